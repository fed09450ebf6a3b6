"""MIDI on the wire and on disk, and nothing else: no engine, no models, no torch.

    messages    the one home of status bytes, data-byte counts, controller numbers, note_on/note_off
    jack_names  jack_client_name: $LIVEIMPRO_JACK_CLIENT_SUFFIX after each JACK client name (a socket per name, machine-wide)
    ports       python-rtmidi ports on the first MIDI system that works (ALSA, JACK, CoreMIDI, WinMM)
    reader      PortReader: a thread that drains an input port, each message timed by the MIDI system's clock
    clock       MidiClock: a DAW's tempo, transport, song position and bar lines from MIDI clock
    meter       parse_meter, bar_beats, pickup_beats: the --meter setting (clocks carry none)
    link        LinkClock: the same from an Ableton Link session (aalink, an optional extra)
    tick_line   the line through the clock ticks that tempo and bar lines are read from
    tick_changes  telling a tempo change, a phase jump and dropped ticks from jitter
    jackwatch   JackWatch: learns at once when the JACK server, a client or a port comes or goes (JACK-Client callbacks)
    jack_clock  JackClock: a JACK cycle's start on the perf_counter timeline (the I/O process's stamps)
    reconnect   Connections: duet's named ports, reconnected when they come back
    smf         a bounded Standard MIDI File parser for damaged or hostile files
    files       read_midi / write_midi: Melodies in and out of MIDI files
"""
