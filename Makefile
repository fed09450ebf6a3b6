# Two entry points; each sets itself up on first run (scripts/setup.sh), and is fast after that.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup clean

demo: setup
	$(PY) -m liveimpro demo $(ARGS)

# Three pytest workers: the real-port tests are mostly musical time (calls, answers, the quiet after
# them), so they run side by side, each worker on JACK servers of its own (liveimpro.jackserver's
# slots) and with JACK client names of its own ("liveimpro-out-gw0": JACK 2 names a client's
# notification socket by the client's name alone, whatever the server; tests/conftest.py and
# liveimpro/midi/jack_names.py say why). Three take 8 min on these 2 cores, two 11 min. README,
# "Tests", lists the runs of each setting. JOBS=0 runs them in one process.
JOBS ?= 3

test: setup
	$(PY) -m pytest $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist worksteal) $(ARGS)

setup:
	@bash scripts/setup.sh $(VENV)

clean:
	rm -rf $(VENV) .pytest_cache
