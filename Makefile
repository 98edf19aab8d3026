# Two commands do all the set-up on a fresh machine: `make workshop` and `make test`.
# Both create .venv if missing and (re)install the project when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# nbval runs the notebooks in a scratch work directory, never in your own work/.
NBVAL_WORK := $(CURDIR)/work/nbval

.PHONY: setup workshop test lint lab clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,aws]'
	@touch $(STAMP)

setup: $(STAMP)

workshop: setup  ## execute every notebook headlessly (executed copies + figures under work/)
	$(PY) -m helpers run

test: setup lint  ## unit tests + nbval over every notebook (reduced repeat counts)
	rm -rf $(NBVAL_WORK)
	NEO_WORKSHOP_WORK_DIR=$(NBVAL_WORK) NEO_WORKSHOP_REPEATS=10 \
		$(PY) -m pytest tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

lint: setup
	$(VENV)/bin/ruff check helpers tests conftest.py

lab: setup  ## JupyterLab on the notebooks
	$(VENV)/bin/jupyter lab notebooks

clean:
	rm -rf work .pytest_cache .ruff_cache
