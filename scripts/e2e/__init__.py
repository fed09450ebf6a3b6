"""The parts of scripts/bench_e2e.py: player.py (the player's JACK ports and its calls),
subjects.py (the processes it measures or loads the machine with), floor.py (the trivial
forwarding client, run as a script of its own)."""
