# make ablation  - create .venv, install the pinned dependencies, run the default study
# make test      - the whole test suite (what CI runs)
# make ui        - the MLflow UI on 127.0.0.1:5000
# make bench     - speed benchmarks (results go to BENCHMARKS.md)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STUDY ?= studies/default.yaml
EXPERIMENT ?= default-ablation
PORT ?= 5000
export MLFLOW_TRACKING_URI ?= sqlite:///mlflow.db

.PHONY: setup ablation test test-fast ui bench report clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade -q pip
	$(BIN)/python -m pip install -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -e .
	touch $@

ablation: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/mlflow run . -e ablation --env-manager local \
		--experiment-name $(EXPERIMENT) -P study=$(STUDY)

report: setup
	$(BIN)/python -m pipeline report --study $(STUDY)

test: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest

test-fast: setup
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest -m "not slow"

ui: setup
	@echo "Open http://127.0.0.1:$(PORT)/#/?workflowType=machine_learning (or choose 'Model training' at the top left)"
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port $(PORT)

bench: setup
	$(BIN)/python benchmarks/bench.py

clean:
	rm -rf mlflow.db optuna.db optuna.journal* mlruns mlartifacts reports/*/
