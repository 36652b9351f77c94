# Developer entry points. `make test` is what CI runs (through .ci/run) on a fresh clone.

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
COV_MIN ?= 90
TYPING_TESTS := $(wildcard tests/typing/*.py)
BENCHMARKS := $(sort $(wildcard benchmarks/bench_*.py))

.PHONY: venv jar test lint typecheck docs demo serve bench clean

venv: $(VENV)/.installed

$(PY):
	$(PYTHON) -m venv $(VENV)

# Reinstalls only when pyproject.toml changes; the stamp records the last good install.
$(VENV)/.installed: pyproject.toml | $(PY)
	$(PY) -m pip install -e '.[dev]'
	touch $@

# The bench extra (the peer libraries bench_peers.py compares with), kept out of `make test`.
$(VENV)/.installed-bench: $(VENV)/.installed
	$(PY) -m pip install -e '.[dev,bench]'
	touch $@

jar: venv
	$(PY) -c "from dynamorm_async.testing._local import jar_dir; print(jar_dir())"

lint: venv
	$(VENV)/bin/ruff check .

typecheck: venv
	$(VENV)/bin/mypy --strict dynamorm_async
ifneq ($(TYPING_TESTS),)
	MYPYPATH=tests/typing $(VENV)/bin/mypy --strict tests/typing
endif
	$(VENV)/bin/mypy --strict examples

docs: venv
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict --quiet

# Coverage starts with the interpreter (`coverage run`), not in a pytest hook: the package's
# pytest11 entry-point plugin imports dynamorm_async before pytest-cov could start measuring,
# which would leave every import-time line uncounted. `python -m` also puts the repository
# root on sys.path, so tests can import tests.faultproxy.
test: venv jar lint typecheck docs
	$(PY) -m coverage run -m pytest -p no:cacheprovider -q
	$(PY) -m coverage report --fail-under=$(COV_MIN)

demo: venv jar
	$(PY) examples/quickstart.py
	$(PY) -m examples.fastapi_orders.demo

serve: venv jar
	$(PY) -m examples.fastapi_orders

bench: venv $(VENV)/.installed-bench jar
	@set -e; for bench in $(BENCHMARKS); do echo "== $$bench"; $(PY) $$bench; done

clean:
	rm -rf $(VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .hypothesis \
		.coverage htmlcov
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
