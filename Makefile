# Two entry points; each sets itself up on first run (scripts/setup.sh), and is fast after that.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup clean

demo: setup
	$(PY) -m liveimpro demo $(ARGS)

# Two pytest workers: the real-port tests are mostly musical time (calls, answers, the quiet after
# them), so two run side by side, each worker on JACK servers of its own (liveimpro.jackserver's
# slots). Three would take 7.5 min, not 10.5, but JACK 2 names a client's notification socket by
# the client's name alone (/dev/shm/jack_liveimpro-out_0_0, whatever the server): two workers
# opening "liveimpro-out" at once on their own servers take each other's socket, and both fail.
# More workers, more such pairs (README, "Tests"). JOBS=0 runs them in one process.
JOBS ?= 2

test: setup
	$(PY) -m pytest $(if $(filter 0,$(JOBS)),,-n $(JOBS) --dist worksteal) $(ARGS)

setup:
	@bash scripts/setup.sh $(VENV)

clean:
	rm -rf $(VENV) .pytest_cache
