"""The live engine: the path from a MIDI message in to an answer note out, in real time.

    input       LiveInput: raw messages in, played notes and controls out (bad input skipped, counted)
    controls    ControlMap: which CC moves which live setting
    engine      Engine: the engine thread (messages, phrase end, priming)
    answer      AnswerStream: the answer streamed note by note, cut by barge-in; ReactionTimer
    scheduler   Scheduler: the sender thread, each message sent at its time
    sinks       where messages go: a MIDI port, several sinks, memory; every note-on gets its note-off
    synth       FluidSynth as a sink, live or rendered to WAV
    recorder    SessionRecorder: the session as a MIDI file, written after every phrase
"""
