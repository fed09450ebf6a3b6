"""FluidSynth as a JACK client of its own with a MIDI input: the synth of `duet --io-process --synth`.

    synth = JackMidiSynth(soundfont=None, program=0)   # JACK client "liveimpro synth"
    synth.port                                        # "liveimpro synth:midi_00": the I/O process connects to it
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
from ..midi.jack_activation import paced_activation
from ..midi.jackwatch import JackWatch
from .synth import _fluid_errors, _fluidsynth, _new_synth

CLIENT_NAME = "liveimpro synth"
MIDI_PORT = "midi_00"  # FluidSynth's name for its JACK MIDI input


class JackMidiSynth:
    name = "FluidSynth (jack, MIDI from the I/O process)"

    def __init__(self, soundfont=None, program: int | dict[int, int] = 0, sample_rate: int = 48000,
                 gain: float = 1.0, reverb: bool = False):
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # its JACK drivers must not start jackd
        before = set(_midi_inputs())
        self._synth = _new_synth(soundfont, program, sample_rate, gain, reverb, **{
            "audio.driver": "jack", "audio.jack.id": CLIENT_NAME, "audio.jack.autoconnect": 1,
            "midi.driver": "jack", "midi.jack.id": CLIENT_NAME})
        fluidsynth, synth = _fluidsynth(), self._synth
        # the drivers activate a JACK client: apart from the last one (liveimpro.midi.jack_activation)
        with paced_activation(), _fluid_errors() as errors:
            synth.audio_driver = fluidsynth.new_fluid_audio_driver(synth.settings, synth.synth)
            synth.midi_driver = synth.audio_driver and fluidsynth.new_fluid_midi_driver(
                synth.settings, fluidsynth.fluid_synth_handle_midi_event, synth.synth)
        if not synth.audio_driver or not synth.midi_driver:
            self.close()
            raise UserError(f"FluidSynth could not start on JACK: {errors[-1] if errors else 'failed'}")
        # JACK names the client "liveimpro synth-01" when a "liveimpro synth" runs already
        new = [port for port in _midi_inputs() if port not in before and port.endswith(":" + MIDI_PORT)
               and port.startswith(CLIENT_NAME)]
        if len(new) != 1:
            self.close()
            raise UserError(f"FluidSynth started, but its JACK MIDI port is not listed (new ports: {new})")
        self.port = new[0]

    def close(self) -> None:
        """Stop the drivers and free the synth (what it still sounded stops with it)."""
        synth, self._synth = self._synth, None
        if synth is None:
            return
        fluidsynth = _fluidsynth()
        if getattr(synth, "midi_driver", None):
            fluidsynth.delete_fluid_midi_driver(synth.midi_driver)
            synth.midi_driver = None
        synth.delete()  # deletes the audio driver too


def _midi_inputs() -> list[str]:
    """The JACK MIDI inputs listed now (our watch's own portless client, closed at once)."""
    watch = JackWatch.connect("liveimpro-probe")
    if watch is None:
        raise UserError("FluidSynth on JACK: no JACK server is running")
    try:
        return watch.ports("output")
    finally:
        watch.close()


__all__ = ["JackMidiSynth", "CLIENT_NAME"]
