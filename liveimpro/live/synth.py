"""Sound without a synthesizer of one's own: FluidSynth (through pyfluidsynth) live, or rendered to WAV.

    sink = FluidSynthSink(program=0)                       # live audio, a GM piano
    render_wav(melody_events(melody), "answer.wav")        # offline: no audio driver at all

Live settings favour latency: periods of 64 frames, 2 of them (about 3 ms at 44.1 kHz where
the driver honours them: ALSA, JACK follows its server's period, PulseAudio adds its own
buffering), one synthesis thread (synth.cpu-cores 1: the engine and the sender need the other
cores), reverb and chorus off (a dry sound, less CPU; reverb=True turns both on). The audio
driver is JACK on Linux when a JACK server runs (it is never started: a stray jackd would seize
the sound card), else PulseAudio, else ALSA; CoreAudio on macOS, WASAPI on Windows.
A FluidSynth that cannot start raises UserError with the reasons in one line; MIDI output
does not depend on it.

The soundfont is the one given, else $LIVEIMPRO_SOUNDFONT, else the first *.sf2 found in
/usr/share/sounds/sf2, /usr/share/soundfonts, ~/.local/share/soundfonts and
~/Library/Audio/Sounds/Banks (default-GM.sf2 first). `program` is a General MIDI program number
0..127 for every channel, or {channel: program}; channel 9 (MIDI channel 10) plays drum kits.
Events for render() are (seconds, MIDI message bytes).
"""
from __future__ import annotations

import contextlib
import ctypes
import io
import os
import sys
import wave
from pathlib import Path

from ..errors import UserError
from ..midi.jack_activation import paced_activation
from ..midi.jack_names import jack_client_name
from ..midi.messages import (
    CONTROL_CHANGE,
    NOTE_OFF,
    NOTE_ON,
    PITCH_BEND,
    PROGRAM_CHANGE,
    channel_of,
    message_kind,
)
from .sinks import Sink

SOUNDFONT_DIRS = ("/usr/share/sounds/sf2", "/usr/share/soundfonts", "~/.local/share/soundfonts",
                  "~/Library/Audio/Sounds/Banks")
SOUNDFONT_ENV = "LIVEIMPRO_SOUNDFONT"
_FLUID_ERR = 1  # FluidSynth log level of errors
_LOG_FUNCTION = ctypes.CFUNCTYPE(None, ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p)


def find_soundfont(path=None) -> Path:
    """The soundfont to use (see the module doc); UserError naming the places looked at if none."""
    if path is None:
        path = os.environ.get(SOUNDFONT_ENV) or None
    if path is not None:
        path = Path(path).expanduser()
        if not path.is_file():
            raise UserError(f"soundfont {str(path)!r} not found")
        return path
    for folder in SOUNDFONT_DIRS:
        # Debian's default-GM.sf2 names the system's chosen GM soundfont
        found = sorted(Path(folder).expanduser().glob("*.sf2"), key=lambda p: (p.name != "default-GM.sf2", p.name))
        if found:
            return found[0]
    raise UserError(f"no soundfont (.sf2) found in {', '.join(SOUNDFONT_DIRS)}: install one "
                    f"(Debian: apt-get install fluid-soundfont-gm) or set ${SOUNDFONT_ENV}")


def fluidsynth_module():
    """pyfluidsynth, imported quietly; UserError when libfluidsynth is missing."""
    try:
        # pyfluidsynth prints where it found the library when $CI is set (as CI services set it):
        # on stdout, where duet's status lines go
        with contextlib.redirect_stdout(io.StringIO()):
            import fluidsynth
    except ImportError as exc:  # pyfluidsynth raises ImportError when libfluidsynth is missing
        raise UserError(f"FluidSynth is not available ({exc}): install it (Debian: apt-get install "
                        "libfluidsynth3; macOS: brew install fluid-synth)") from None
    return fluidsynth


@contextlib.contextmanager
def fluid_errors():
    """Collect FluidSynth's error messages (for our one-line errors) and keep fd 2 quiet meanwhile:
    ALSA, JACK and PulseAudio print their own noise there when a driver cannot start."""
    from ..midi.ports import stderr_silenced
    library = ctypes.CDLL(fluidsynth_module().lib)
    library.fluid_set_log_function.restype = ctypes.c_void_p
    library.fluid_set_log_function.argtypes = (ctypes.c_int, ctypes.c_void_p, ctypes.c_void_p)
    messages: list[str] = []
    collect = _LOG_FUNCTION(lambda level, text, data: messages.append(text.decode(errors="replace")))
    previous = library.fluid_set_log_function(_FLUID_ERR, ctypes.cast(collect, ctypes.c_void_p), None)
    try:
        with stderr_silenced():
            yield messages
    finally:
        library.fluid_set_log_function(_FLUID_ERR, previous, None)


def new_synth(soundfont, program: int | dict[int, int], sample_rate: int, gain: float, reverb: bool,
               **settings):
    """A fluidsynth.Synth with the soundfont loaded and `program` (GM number 0..127, or
    {channel: program}) selected on the channels."""
    fluidsynth = fluidsynth_module()
    path = find_soundfont(soundfont)
    programs = program if isinstance(program, dict) else {channel: program for channel in range(16)}
    for channel, number in programs.items():
        if not 0 <= channel <= 15:
            raise ValueError(f"channel must be in range 0..15, got {channel!r}")
        if not 0 <= number <= 127:
            raise ValueError(f"program must be in range 0..127, got {number!r}")
    synth = fluidsynth.Synth(gain=gain, samplerate=sample_rate, channels=16, **{
        "synth.reverb.active": int(reverb), "synth.chorus.active": int(reverb), "synth.cpu-cores": 1,
        **settings})
    with fluid_errors() as errors:
        font = synth.sfload(str(path))
    if font < 0:
        synth.delete()
        raise UserError(f"cannot load soundfont {str(path)!r}: {errors[0] if errors else 'not a SoundFont 2 file'}")
    for channel, number in programs.items():
        synth.program_select(channel, font, 128 if channel == 9 else 0, number)  # bank 128: drum kits
    return synth


def start_drivers(synth, jack: bool, midi: bool = False) -> str | None:
    """Start a fluidsynth.Synth's audio driver (and, with `midi`, its MIDI driver), as its settings
    name them: None when they run, else FluidSynth's reason (what had started is stopped again).
    A JACK driver activates a JACK client: apart from the last one (liveimpro.midi.jack_activation)."""
    fluidsynth = fluidsynth_module()
    with paced_activation() if jack else contextlib.nullcontext(), fluid_errors() as errors:
        synth.audio_driver = fluidsynth.new_fluid_audio_driver(synth.settings, synth.synth) or None
        if midi and synth.audio_driver:
            synth.midi_driver = fluidsynth.new_fluid_midi_driver(
                synth.settings, fluidsynth.fluid_synth_handle_midi_event, synth.synth) or None
    if synth.audio_driver and (not midi or synth.midi_driver):
        return None
    stop_drivers(synth)
    return errors[-1] if errors else "failed"


def stop_drivers(synth) -> None:
    """Stop what `start_drivers` started (the synth stays, its soundfont loaded)."""
    fluidsynth = fluidsynth_module()
    if synth.midi_driver:
        fluidsynth.delete_fluid_midi_driver(synth.midi_driver)
        synth.midi_driver = None
    if synth.audio_driver:
        fluidsynth.delete_fluid_audio_driver(synth.audio_driver)
        synth.audio_driver = None


def _apply(synth, message: bytes) -> None:
    """Play one MIDI message on a fluidsynth.Synth; kinds FluidSynth has no call for are ignored."""
    kind, channel = message_kind(message[0]), channel_of(message[0])
    if kind == NOTE_ON:
        synth.noteon(channel, message[1], message[2])  # velocity 0 is a note-off for FluidSynth too
    elif kind == NOTE_OFF:
        synth.noteoff(channel, message[1])
    elif kind == CONTROL_CHANGE:
        synth.cc(channel, message[1], message[2])  # includes All Notes Off / All Sound Off
    elif kind == PROGRAM_CHANGE:
        synth.program_change(channel, message[1])
    elif kind == PITCH_BEND:  # FluidSynth wants the bend signed, 0 at the centre (8192)
        synth.pitch_bend(channel, (message[1] | message[2] << 7) - 8192)


def _jack_running() -> bool:
    """Whether a JACK server (the one $JACK_DEFAULT_SERVER names, else the default) runs; never starts one."""
    from ..midi.jackwatch import JackWatch
    watch = JackWatch.connect("liveimpro-probe")
    if watch is not None:
        watch.close()
    return watch is not None


def audio_drivers() -> list[str]:
    """FluidSynth audio drivers to try here, in order."""
    if sys.platform == "darwin":
        return ["coreaudio"]
    if sys.platform == "win32":
        return ["wasapi", "dsound"]
    return (["jack"] if _jack_running() else []) + ["pulseaudio", "alsa"]


class FluidSynthSink(Sink):
    """Live audio from FluidSynth. close() releases every note, then stops the driver."""

    def __init__(self, soundfont=None, program: int | dict[int, int] = 0, driver: str | None = None,
                 sample_rate: int = 48000, gain: float = 1.0, reverb: bool = False):
        super().__init__()
        self._synth = new_synth(soundfont, program, sample_rate, gain, reverb, **{
            "audio.period-size": 64, "audio.periods": 2,
            "audio.jack.id": jack_client_name("liveimpro synth"), "audio.jack.autoconnect": 1})
        reasons = []
        os.environ.setdefault("JACK_NO_START_SERVER", "1")  # a JACK driver must not start jackd
        for name in [driver] if driver else audio_drivers():
            self._synth.setting("audio.driver", name)
            reason = self._start_driver(name)
            if reason is None:
                self.driver = name
                self.name = f"FluidSynth ({name})"
                return
            reasons.append(f"{name}: {reason}")
        self._synth.delete()
        raise UserError("FluidSynth could not start audio: " + "; ".join(reasons))

    def _start_driver(self, name: str) -> str | None:
        """Start the audio driver the settings name; None when it runs, else FluidSynth's reason."""
        return start_drivers(self._synth, jack=name == "jack")

    def stop_audio(self) -> None:
        """Stop the audio driver (its JACK server went away); notes sent meanwhile are dropped."""
        with self._lock:
            stop_drivers(self._synth)
            for message in self.sounding.release() + self.sounding.panic_messages():
                _apply(self._synth, message)  # silent inside the synth too, before a new driver plays it
            self.gone = True

    def start_audio(self) -> bool:
        """Start the audio driver again (its JACK server is back); False, and still gone, if it cannot."""
        with self._lock:
            if self._synth.audio_driver is None and self._start_driver(self.driver) is None:
                self.gone = False
        return not self.gone

    def _write(self, message: bytes) -> None:
        _apply(self._synth, message)

    def _close(self) -> None:
        self._synth.delete()


def render(events, soundfont=None, program: int | dict[int, int] = 0, sample_rate: int = 44100,
           gain: float = 1.0, reverb: bool = False, tail: float = 1.0):
    """Render (seconds, message) events offline: a float32 array [frames, 2] in -1..1, lasting until
    `tail` seconds after the last event. Events take effect at FluidSynth's 64-frame blocks."""
    import numpy as np
    synth = new_synth(soundfont, program, sample_rate, gain, reverb)
    chunks, frame = [], 0
    try:
        for seconds, message in sorted(events, key=lambda e: e[0]):
            target = round(seconds * sample_rate)
            if target > frame:
                chunks.append(synth.get_samples(target - frame))
                frame = target
            _apply(synth, bytes(message))
        chunks.append(synth.get_samples(max(1, round(tail * sample_rate))))
    finally:
        synth.delete()
    return (np.concatenate(chunks).reshape(-1, 2) / 32768.0).astype(np.float32)


def write_wav(path, samples, sample_rate: int = 44100) -> None:
    """16-bit stereo WAV from a float array [frames, 2]; UserError if the file cannot be written."""
    import numpy as np
    pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype("<i2")
    try:
        with open(path, "wb") as file, wave.open(file, "wb") as out:
            out.setnchannels(2)
            out.setsampwidth(2)
            out.setframerate(sample_rate)
            out.writeframes(pcm.tobytes())
    except OSError as exc:
        raise UserError(f"cannot write {str(path)!r}: {exc.strerror or exc}") from None


def render_wav(events, path, sample_rate: int = 44100, **options):
    """render() then write_wav(); returns the samples. options: soundfont, program, gain, reverb, tail."""
    samples = render(events, sample_rate=sample_rate, **options)
    write_wav(path, samples, sample_rate)
    return samples


__all__ = ["FluidSynthSink", "render", "render_wav", "write_wav", "find_soundfont", "audio_drivers"]
