# Orbital: every target works from a fresh clone (creates .venv, installs, generates code).
SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3
STAMP := $(VENV)/.installed
NODE_STAMP := node_modules/.installed
PROTOS := $(wildcard protos/orbital/v1/*.proto)
STATE ?= var

.PHONY: all setup run test bench protos devnet devnet-down contracts lint clean prometheus-tools

all: setup

# The editable install maps the top-level packages that exist when it runs: a new package
# (a new */__init__.py) triggers a reinstall so the `orbital` script can import it.
$(STAMP): setup.cfg pyproject.toml $(wildcard */__init__.py)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test]'
	touch $@

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

# Generated gRPC code is built here, not committed (orbital/v1/*_pb2*.py are git-ignored).
# google/rpc/*.proto (google.rpc.Status in results) come with googleapis-common-protos.
protos: $(STAMP)
	$(PY) -m grpc_tools.protoc -Iprotos \
	  -I"$$($(PY) -c 'import google.rpc, os; print(os.path.dirname(os.path.dirname(list(google.rpc.__path__)[0])))')" \
	  --python_out=. --pyi_out=. --grpc_python_out=. $(PROTOS)

setup: $(STAMP) $(NODE_STAMP) protos

# The runtime on the local devnet (SQLite in var/) and the reference solver from clients/.
# Role keys (attester, relayer, treasury, operator, solver) are the devnet's well-known
# anvil keys, and solana-local's treasury keypair, exported from `python -m devnet env`.
# Ctrl-C stops both.
run: setup
	$(PY) -m devnet up --state-dir $(STATE)
	@eval "$$($(PY) -m devnet env)"; \
	  $(VENV)/bin/orbital-solver --devnet-dir $(STATE) --devnet-account solver & solver=$$!; \
	  trap 'kill $$solver 2>/dev/null; wait $$solver 2>/dev/null' EXIT INT TERM; \
	  $(VENV)/bin/orbital run --config supervisor.yaml

# promtool and prometheus (Debian package prometheus): the metrics and ops tests run the
# real tools and fail without them. Installed here when missing and we are root with apt;
# otherwise a clear message and a failure, never a silent skip.
prometheus-tools:
	@if ! command -v promtool >/dev/null 2>&1 || ! command -v prometheus >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus; \
	  else \
	    echo "make test: promtool and prometheus are required (Debian: sudo apt-get install prometheus)" >&2; \
	    exit 1; \
	  fi; \
	fi

test: setup prometheus-tools
	@if [ -f contracts/build.py ]; then $(PY) contracts/build.py --check; fi
	$(PY) -m pytest -q -p no:cacheprovider

bench: setup
	$(PY) -m bench

devnet: setup
	$(PY) -m devnet up --state-dir $(STATE)

devnet-down: setup
	$(PY) -m devnet down --state-dir $(STATE)

contracts: $(NODE_STAMP) $(STAMP)
	$(PY) contracts/build.py

# Style (ruff), the layers of README "Layout" (import-linter contracts in setup.cfg) and
# types (mypy, its [mypy] section in setup.cfg).
lint: setup
	$(VENV)/bin/ruff check runtime chains actors node clients solver tests bench protocol devnet
	$(VENV)/bin/lint-imports
	$(VENV)/bin/mypy

clean:
	rm -rf $(VENV) node_modules orbital/v1/*_pb2*.py
