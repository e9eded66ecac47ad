# make ablation  - create .venv, install the pinned dependencies, run the default study
# make test      - the whole test suite (what CI runs)
# make ui        - the MLflow UI on 127.0.0.1:5000
# make dashboard - optuna-dashboard on the study's Optuna storage, 127.0.0.1:8080
# make bench     - speed benchmarks (results go to BENCHMARKS.md)
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STUDY ?= studies/default.yaml
# the MLflow experiment of `make ablation`: the study file's `name:` (as the pipeline names it)
# (a UTF-8 byte order mark before the first line, which the pipeline reads past, is skipped too)
EXPERIMENT ?= $(or $(shell sed -n -E '1s/^\xEF\xBB\xBF//; s/^name:[[:space:]]*["'"'"']?([^"'"'"'\#[:space:]]+).*/\1/p' $(STUDY) 2>/dev/null | head -n1),default-ablation)
# only as typed (make ui PORT=5077): hosting platforms and containers set PORT in the environment
PORT := $(if $(filter command line,$(origin PORT)),$(PORT),5000)
export MLFLOW_TRACKING_URI ?= sqlite:///mlflow.db
# another PORT: the links the pipeline prints and writes into reports open the UI there
ifneq ($(PORT),5000)
export PIPELINE_UI_URL ?= http://127.0.0.1:$(PORT)
endif

.PHONY: setup ablation test test-fast ui dashboard bench report clean

setup: $(VENV)/.installed

$(VENV)/.installed: requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade -q pip
	$(BIN)/python -m pip install --progress-bar off -r requirements.txt
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

# One worker, warmed by one search before a browser's burst of parallel requests: MLflow 3.17
# imports its auth models inside a request, and a concurrent query can then break a worker
# ("'SqlUserRoleAssignment' is not defined" in its log). See README.
UI_URL := http://127.0.0.1:$(PORT)
ui: setup
	@echo "Open the link the ablation printed last (the study's overview; on port 5000 unless it ran with the same PORT or PIPELINE_UI_URL), or $(UI_URL)/#/?workflowType=machine_learning for every experiment (MLflow 3 opens experiments in its GenAI view otherwise: choose 'Model training' at the top left)"
	@(for i in $$(seq 120); do curl -sf $(UI_URL)/health >/dev/null && break; sleep 1; done; \
	  curl -sf -X POST -H 'Content-Type: application/json' -d '{"experiment_ids": ["0"], "max_results": 1}' \
	    $(UI_URL)/ajax-api/2.0/mlflow/runs/search >/dev/null) &
	$(BIN)/mlflow ui --backend-store-uri $(MLFLOW_TRACKING_URI) --host 127.0.0.1 --port $(PORT) --workers 1

# optuna-dashboard on the study's Optuna storage (STORAGE=postgresql://... for another)
STORAGE ?= journal:optuna.journal
DASHBOARD_PORT ?= 8080
dashboard: setup
	$(BIN)/python -m pipeline dashboard --storage $(STORAGE) --port $(DASHBOARD_PORT)

bench: setup
	$(BIN)/python benchmarks/bench.py
	$(BIN)/python benchmarks/bigtable.py   # reading a big messy CSV (~40 MB), the column checks timed apart

clean:
	rm -rf mlflow.db optuna.db optuna.journal* *.enqueue.lock mlruns mlartifacts reports/*/
