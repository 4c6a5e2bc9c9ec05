# Two commands a fresh machine needs: `make demo` and `make test`.
# Each builds its own virtual environment (.venv) the first time, and again
# whenever pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PARTS  ?= 200
# tests marked 'hardware' need a real GenTL camera, GPU or PLC: run them with PYTEST_ARGS='-m hardware'
PYTEST_ARGS ?= -m "not hardware"

.PHONY: demo test bench system-packages clean-venv

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# runtime + PLC simulator: enough for the demo
$(VENV)/.demo-deps: pyproject.toml | $(BIN)/python system-packages
	$(BIN)/pip install --quiet -e '.[sim]'
	touch $@

# everything: training (ultralytics, torch), tests, camera emulator
$(VENV)/.test-deps: pyproject.toml | $(BIN)/python system-packages
	$(BIN)/pip install --quiet -e '.[sim,train,dev]'
	touch $@ $(VENV)/.demo-deps

system-packages:
	@scripts/ensure-system-packages

demo: $(VENV)/.demo-deps
	$(BIN)/inspector demo --parts $(PARTS) --data-dir var/demo

test: $(VENV)/.test-deps
	YOLO_OFFLINE=1 QT_QPA_PLATFORM=offscreen $(BIN)/pytest $(PYTEST_ARGS)

bench: $(VENV)/.test-deps
	mkdir -p var && YOLO_OFFLINE=1 $(BIN)/pytest benchmarks --benchmark-only --benchmark-json=var/bench.json

clean-venv:
	rm -rf $(VENV)
