"""The parts of scripts/soak.py, a soak of `liveimpro duet` on real JACK ports (see its docstring):

- calls: the random calls the player plays (`make_call`);
- player: the player's two JACK ports (`Player`) and what sounds on duet's output (`Listener`);
- duet: `liveimpro duet` in its own process, its status lines parsed (`Duet`);
- session: the call-and-response loop (`Soak`): when to play, when an answer is over, barging in;
- figures: the figures of a soak from what was recorded (`figures`), and their table (`print_table`).

scripts/soak.py is the command line. Python runs a script with its own folder, scripts/, first on the
module search path, so `import soaking.calls` there finds this folder as it is.
"""
