# The course book's commands. Quick start (README): `make book`, then `make test`.
# Everything installs itself into .venv from requirements.txt (exact pins).

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: help venv book test lint unit nbval nbval-2threads repro build-strict browser chromium lab refresh serve bench clean

help:
	@echo "make book     build the website into _build/html"
	@echo "make test     run every check (lint, unit, nbval, strict build, browser)"
	@echo "make lab      open the notebooks in JupyterLab"
	@echo "make refresh  re-execute the notebooks in place (stored outputs)"
	@echo "make serve    serve _build/html on http://$(HOST):$(PORT)"
	@echo "make bench    time lessons_src, the book's builds and notebooks, and its pages"

venv: $(STAMP)

$(STAMP): requirements.txt pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), f"Python 3.11 is needed, found {sys.version.split()[0]}: set PYTHON=/path/to/python3.11"'
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (KL course)" >/dev/null
	@touch $@

# ---------------------------------------------------------------------------------------
# The website. Cached execution: only notebooks that changed are re-executed.
book: venv
	$(BIN)/jupyter-book build . -W -n --keep-going
	@echo
	@echo "The book is built. Open $(CURDIR)/_build/html/index.html in a browser,"
	@echo "or run 'make serve' and visit http://$(HOST):$(PORT)/"

# Every check, in order of speed. Each step names the file at fault when it fails.
test: venv chromium
	@start=$$(date +%s); \
	$(MAKE) --no-print-directory lint unit nbval nbval-2threads repro build-strict browser || exit 1; \
	echo "make test: all checks passed in $$(( $$(date +%s) - start )) s"

lint: venv
	$(BIN)/ruff check lessons_src tests scripts benchmarks book

unit: venv
	$(BIN)/python -m pytest -m "not browser" -p no:cacheprovider -q -n 2 tests --ignore=tests/browser --doctest-modules lessons_src

# nbval re-executes every notebook and compares its outputs with the stored ones: torch on
# 1 thread, then on 2 (printed results must not depend on it). Notebooks run two at a time.
NBVAL := $(BIN)/python -m pytest --nbval --nbval-current-env -p no:cacheprovider -q -n 2 --dist loadfile book

nbval: venv
	LESSONS_TORCH_THREADS=1 $(NBVAL)

nbval-2threads: venv
	LESSONS_TORCH_THREADS=2 $(NBVAL)

# Every notebook, re-executed in a fresh copy of book/ in a shuffled order, must give its
# stored file byte for byte (so `make refresh` never makes a noisy diff).
repro: venv
	LESSONS_TORCH_THREADS=1 $(PY) scripts/check_reproducible.py --jobs 2 $(if $(REPRO_SEED),--seed $(REPRO_SEED))

# The strict build with forced execution, so a change in lessons_src cannot hide behind
# the execution cache. It writes the site the browser tests then check.
build-strict: venv
	@mkdir -p _build
	$(PY) scripts/forced_config.py _config.yml _build/_config.forced.yml
	$(BIN)/jupyter-book build . -W -n --keep-going --all --config _build/_config.forced.yml

browser: venv chromium
	$(BIN)/python -m pytest -m browser -p no:cacheprovider -q -n 2 tests/browser

# Debian's Chromium drives the browser tests (Playwright's own download needs internet).
chromium:
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	  echo "Installing Debian's chromium for the browser tests..."; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else \
	  echo "Chromium is missing. Install it with:  sudo apt-get install chromium"; \
	  echo "(then run make test again; the tests launch /usr/bin/chromium)"; exit 1; \
	fi

# ---------------------------------------------------------------------------------------
lab: venv
	$(BIN)/jupyter lab --notebook-dir=book --ServerApp.ip=$(HOST) $(if $(filter 0,$(shell id -u)),--allow-root)

refresh: venv
	$(PY) scripts/refresh_notebooks.py

serve:
	@test -f _build/html/index.html || { echo "No site in _build/html: run 'make book' first."; exit 1; }
	@echo "Serving _build/html on http://$(HOST):$(PORT)/ (Ctrl-C stops)"
	$(PYTHON) -m http.server --bind $(HOST) --directory _build/html $(PORT)

# Library speed, then the book (builds, nbval, notebooks against their floors), then the
# pages of the clean build (bytes, time to typeset). All figures go to benchmarks/results.json.
bench: venv chromium
	$(PY) benchmarks/bench_lessons.py
	$(PY) benchmarks/bench_book.py --keep _build/bench-site
	$(PY) benchmarks/bench_pages.py --site _build/bench-site

clean:
	rm -rf _build .pytest_cache .ruff_cache
