"""FluidSynth as a JACK client of its own with a MIDI input: the synth of `duet --io-process --synth`.

    synth = JackMidiSynth(soundfont=None, program=0)   # JACK client "liveimpro synth"
    synth.port                                        # "liveimpro synth:midi_00": the I/O process connects to it
    synth.lost(); synth.started_again(say)            # its JACK server went and came back (liveimpro.live.io_link)
    ...
    synth.close()                                     # after the I/O process has released every note

On the I/O process's path the answers are written into JACK at their frames by another process
(`liveimpro.live.io_process`), so the synth takes them from JACK too, not from Python calls: one
JACK client (FluidSynth shares it between its JACK audio and JACK MIDI drivers) whose process
callback, in FluidSynth's C thread, reads the MIDI of the cycle and renders that cycle's audio.
No Python and no GIL between the I/O process's write and the sound; the delay is at most one
JACK period (FluidSynth applies a cycle's events at the start of the block it renders).

Its audio ports ("left", "right") are connected to the system's playback ports, as
`liveimpro.live.synth.FluidSynthSink`'s are. A FluidSynth that cannot start raises UserError with
FluidSynth's reason in one line.
"""
from __future__ import annotations

import os

from ..errors import UserError
from ..midi.jack_names import jack_client_name
from ..midi.jackwatch import JackWatch
from .synth import new_synth, start_drivers, stop_drivers

CLIENT_NAME = "liveimpro synth"
MIDI_PORT = "midi_00"  # FluidSynth's name for its JACK MIDI input


class NoJackServer(UserError):
    """No JACK server runs: the synth waits for one (`started_again`)."""


class JackMidiSynth:
    name = "FluidSynth (jack, MIDI from the I/O process)"

    def __init__(self, soundfont=None, program: int | dict[int, int] = 0, sample_rate: int = 48000,
                 gain: float = 1.0, reverb: bool = False):
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # its JACK drivers must not start jackd
        self._synth = new_synth(soundfont, program, sample_rate, gain, reverb, **{
            "audio.driver": "jack", "audio.jack.id": jack_client_name(CLIENT_NAME), "audio.jack.autoconnect": 1,
            "midi.driver": "jack", "midi.jack.id": jack_client_name(CLIENT_NAME)})
        self.port: str | None = None
        try:
            self._start_drivers()
        except UserError:
            self.close()
            raise

    def _start_drivers(self) -> None:
        """FluidSynth's JACK client, and `port`, its MIDI input's full name; UserError if it cannot."""
        before = set(_midi_inputs())
        reason = start_drivers(self._synth, jack=True, midi=True)
        if reason is not None:
            raise UserError(f"FluidSynth could not start on JACK: {reason}")
        # JACK names the client "liveimpro synth-01" when a "liveimpro synth" runs already
        new = [port for port in _midi_inputs() if port not in before and port.endswith(":" + MIDI_PORT)
               and port.startswith(jack_client_name(CLIENT_NAME))]
        if len(new) != 1:
            self._stop_drivers()
            raise UserError(f"FluidSynth started, but its JACK MIDI port is not listed (new ports: {new})")
        self.port = new[0]

    def _stop_drivers(self) -> None:
        stop_drivers(self._synth)
        self.port = None

    def lost(self) -> None:
        """Its JACK server stopped: the dead server's client is dropped, and what it played silenced."""
        self._stop_drivers()
        self._synth.system_reset()

    def started_again(self, say) -> bool:
        """A new client on the server that came back (the soundfont stays loaded): True once it
        runs, or once it could not start for another reason than the server (told through `say`,
        and left out: MIDI goes on); False while no JACK server runs."""
        if self.port is None:
            try:
                self._start_drivers()
            except NoJackServer:
                return False
            except UserError as exc:
                say(f"warning: {exc}; playing to MIDI only")
        return True

    def close(self) -> None:
        """Stop the drivers and free the synth (what it still sounded stops with it)."""
        if self._synth is not None:
            self._stop_drivers()
            self._synth.delete()
            self._synth = None


def _midi_inputs() -> list[str]:
    """The JACK MIDI inputs listed now (our watch's own portless client, closed at once)."""
    watch = JackWatch.connect("liveimpro-probe")
    if watch is None:
        raise NoJackServer("FluidSynth on JACK: no JACK server is running")
    try:
        return watch.ports("output")
    finally:
        watch.close()


__all__ = ["JackMidiSynth", "CLIENT_NAME"]
