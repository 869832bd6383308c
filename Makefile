# scowspec developer commands. `make test` installs what it needs into .venv first.
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
SPECS ?= specs

.PHONY: install test lint fmt typecheck check validate-specs golden schema bench gpu-build demo lf-oracle clean fuzz

$(STAMP): pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)  ## create .venv with scowspec (editable) and the dev tools

test: $(STAMP)  ## run the test suite (no GPU, no network beyond 127.0.0.1)
	$(BIN)/pytest -n 4

lint: $(STAMP)
	$(BIN)/ruff check compiler tests tools bench e2e
	$(BIN)/ruff format --check compiler tests tools bench e2e

fmt: $(STAMP)
	$(BIN)/ruff format compiler tests tools bench e2e
	$(BIN)/ruff check --fix compiler tests tools bench e2e

# The package, then the tools that run in this venv (lf_oracle and e2e/gpu import packages only their own venvs have).
typecheck: $(STAMP)
	$(BIN)/mypy
	$(BIN)/mypy --strict tools/fuzz tools/sync_schema.py bench/run.py

validate-specs: $(STAMP)
	$(BIN)/scowspec validate $(SPECS)

check: lint typecheck test validate-specs  ## everything CI should be happy with

golden: $(STAMP)  ## rewrite golden payloads/plans after an intended change; review the diff
	$(BIN)/pytest tests/test_golden.py --update-golden

schema: $(STAMP)  ## regenerate the train/export blocks of the schema from the key table
	$(BIN)/python tools/sync_schema.py

bench: $(STAMP)  ## speed figures (not a test): validate+compile and plan/apply throughput
	$(BIN)/python bench/run.py

gpu-build: $(STAMP)  ## compile the GPU proof's jobs (then: bash e2e/gpu/run.sh on a 4-GPU machine)
	$(BIN)/python e2e/gpu/build.py

demo: $(STAMP)  ## the whole loop against a local sandbox portal
	bash tools/demo.sh

# The LLaMA-Factory oracle: its own venv with LLaMA-Factory 0.9.4 and the image's pins (a few GB, kept in
# .oracle/ and reused), a tiny model built offline, then every corpus spec through scowspec and the real package.
ORACLE ?= .oracle
ORACLE_PINS := llamafactory==0.9.4 torch==2.6.0 torchaudio==2.6.0 torchvision==0.21.0 transformers==4.57.1 \
	peft==0.17.1 trl==0.24.0 datasets==4.0.0 accelerate==1.11.0 deepspeed==0.16.9 omegaconf==2.3.0 \
	jieba nltk rouge-chinese tensorboardX

$(ORACLE)/venv/.stamp:
	$(PY) -m venv $(ORACLE)/venv
	$(ORACLE)/venv/bin/python -m pip install --quiet --disable-pip-version-check $(ORACLE_PINS)
	touch $@

$(ORACLE)/assets/assets.done: $(ORACLE)/venv/.stamp tools/lf_oracle/assets.py e2e/gpu/assets.py
	$(ORACLE)/venv/bin/python tools/lf_oracle/assets.py $(ORACLE)/assets tests/testdata/identity.json

lf-oracle: $(STAMP) $(ORACLE)/venv/.stamp $(ORACLE)/assets/assets.done  ## scowspec vs the real LLaMA-Factory 0.9.4 (not in `make test`)
	$(BIN)/python tools/lf_oracle/run.py $(ORACLE) --json $(ORACLE)/results.json

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .scowspec build dist

FUZZ_COUNT ?= 50000
FUZZ_SECONDS ?= 3600
FUZZ_SEED ?= 1
FUZZ_JOBS ?= 2
fuzz: $(STAMP)  ## hostile specs, project files and plans through every command (not part of `make test`)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check 'omegaconf>=2.3'  # LLaMA-Factory's config reader, the oracle
	$(BIN)/python tools/fuzz/fuzz.py --count $(FUZZ_COUNT) --seconds $(FUZZ_SECONDS) --seed $(FUZZ_SEED) --jobs $(FUZZ_JOBS)
