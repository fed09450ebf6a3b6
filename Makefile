# Two entry points; each sets itself up on first run (scripts/setup.sh), and is fast after that.
VENV ?= .venv
PY := $(VENV)/bin/python

.PHONY: demo test setup clean

demo: setup
	$(PY) -m liveimpro demo $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

setup:
	@bash scripts/setup.sh $(VENV)

clean:
	rm -rf $(VENV) .pytest_cache
