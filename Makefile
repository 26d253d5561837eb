# Two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# The local CPU build of torch; an unpinned torch would pull several GB of CUDA packages.
TORCH_SPEC ?= torch==2.13.0

.PHONY: demo test venv bench clean

# The test extra includes tensorboard, so both `make demo` and `make test` install it.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet "$(TORCH_SPEC)"
	$(PY) -m pip install --quiet -e ".[test]"
	touch $@

venv: $(VENV)/.installed

demo: venv
	$(PY) -m fdikp_cli.demo

test: venv
	FDIKP_LPIPS_DIR=$${FDIKP_LPIPS_DIR:-$(abspath ../shared/weights/lpips)} $(PY) -m pytest -q -p no:cacheprovider

bench: venv
	$(PY) -m benchmarks.run_all

clean:
	rm -rf $(VENV) demo_out
