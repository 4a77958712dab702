# Two entry points, each self-contained from a fresh clone:
#   make demo   set up .venv, run the whole pipeline against the built-in simulated provider
#   make test   set up .venv, run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test clean

$(STAMP): pyproject.toml
	$(PYTHON) -c 'import sys; sys.exit("probe needs Python >= 3.11, found " + sys.version.split()[0]) if sys.version_info < (3, 11) else None'
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/probe demo

test: $(STAMP)
	$(BIN)/python -m pytest

clean:
	rm -rf $(VENV) results.db results.db-wal results.db-shm .pytest_cache
