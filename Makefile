# Every target installs what it needs into ./.venv on first use; nothing is installed by hand.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: demo test bench lint clean

demo: $(STAMP)
	$(VENV)/bin/securecompute demo

test: $(STAMP)
	$(PY) -m pytest --nbmake -p no:cacheprovider

bench: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	@for script in benchmarks/[!_]*.py; do \
	  test -e "$$script" || { echo "no benchmarks yet"; break; }; \
	  echo "== $$script"; $(PY) "$$script" || exit 1; \
	done

lint: $(STAMP)
	$(VENV)/bin/ruff check securecompute tests benchmarks
	$(VENV)/bin/ruff format --check securecompute tests benchmarks
	$(VENV)/bin/mypy

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev,ray,flower]'
	touch $(STAMP)

clean:
	rm -rf $(VENV) securecompute-report .pytest_cache .mypy_cache .ruff_cache
