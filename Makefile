# faasml: one-command set-up. `make run` starts the platform on http://127.0.0.1:8080,
# `make test` installs everything and runs the test suite.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
MODELS ?= models
PORT ?= 8080
STACK ?= stack.yml
NODES ?=
PYTEST_ARGS ?=
# pyproject.toml's extras (dependencies by role): `test` is every role plus the test tools,
# what both `make run` and `make test` need here; e.g. EXTRAS=up,build for a platform only.
EXTRAS ?= test
EVALUATE_ARGS ?=

.PHONY: help venv install models run up test test-fast profile bench bench-executor bench-gateway bench-selector evaluate evaluate-quick clean

help:
	@echo "make run    install, build reference models if absent, start the platform on :$(PORT)"
	@echo "make test   install and run the tests (real models included)"
	@echo "make models build the reference variants into $(MODELS)/ (no-op when present)"
	@echo "make bench  run the benchmarks (executor, gateway, selector, batching)"
	@echo "make profile measure variants through a running platform for the selector"
	@echo "make images build every CPU function image with the stock faas-cli on podman (docs/deployment.md)"
	@echo "make evaluate every selector policy on the same traces, all scenarios (~25 min); make evaluate-quick (< 5 min)"
	@echo "make publish  build and push multi-arch images with faas-cli publish (PLATFORMS=$(PLATFORMS))"
	@echo "make deploy   deploy stack.yml to the OpenFaaS gateway at OPENFAAS_URL (faas-cli deploy)"
	@echo "make edge-up  stand up k3s + OpenFaaS + placement on this machine (sudo; edge/up.sh)"
	@echo "make chaos  faults under load on loopback: kills, hangs (one variant, the two favoured), slow, selector restart, overload (~8 min; CHAOS_ARGS)"
	@echo "make fuzz   the property-based tests with thousands of examples each (HYPOTHESIS_PROFILE=fuzz)"
	@echo "make conformance  OpenFaaS's certifier against faasml up --containers podman --empty (~4 min)"

# Debian packages beyond Python (scripts/system-packages.sh): installed where missing when
# make runs as root or with password-less sudo, else named in one apt-get line (the tests
# that need one are then skipped, saying so). SYSTEM_PACKAGES=no leaves the system alone.
SYSTEM_PACKAGES ?= yes
.PHONY: system-packages-run system-packages-test
system-packages-run system-packages-test: system-packages-%:
	@SYSTEM_PACKAGES=$(SYSTEM_PACKAGES) scripts/system-packages.sh $*

# On pip, not python: a venv interrupted before ensurepip ran has python but no pip, and
# would otherwise stop every later make here. python3-venv first: Debian's python3 lacks it.
$(PIP): | system-packages-run
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip

# The stamp re-runs pip only when the dependency list changes.
$(VENV)/.installed: pyproject.toml | $(PIP)
	$(PIP) install -q -e '.[$(EXTRAS)]'
	touch $@

venv install: $(VENV)/.installed

models: install
	$(PY) -m faasml models build --out $(MODELS)

run up: models
	$(PY) -m faasml up -f $(STACK) --port $(PORT) $(if $(NODES),--nodes $(NODES),)

test: install system-packages-test
	$(PY) -m pytest $(PYTEST_ARGS)

test-fast: install system-packages-test
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

# Measure every variant through the running platform (`make run` in another shell) and
# record the profiles the selector reads (functions/selector/profiles.json).
profile: install
	FAASML_GATEWAY_PASSWORD=$$(cat .faasml/basic-auth-password) $(PY) -m faasml profile --gateway http://127.0.0.1:$(PORT)

bench: bench-executor bench-gateway bench-selector

bench-executor: models
	$(PY) -m faasml bench executor --models $(MODELS) --resize-backend pillow opencv
	# lite0-int8 as stack.yml deploys it (one intra-op thread): the #11 goal's setting
	$(PY) -m faasml bench executor --models $(MODELS) --only efficientnet-lite0-int8 --threads 1 --iterations 200 --resize-backend pillow opencv

bench-gateway: install
	$(PY) -m faasml bench gateway

# The decision part alternates with the code before the selection engine (b6d1bf0, the
# two-path decider) round by round and prints the ratios; SELECTOR_BASELINE= skips it.
SELECTOR_BASELINE ?= b6d1bf0
bench-selector: models
	$(PY) -m faasml bench selector $(if $(SELECTOR_BASELINE),--against $(SELECTOR_BASELINE),)

# The evaluation (docs/evaluation.md): starts its own platforms on free ports, writes
# reports/evaluation-<timestamp>/ (report.json, report.md, plots). EVALUATE_ARGS adds
# options, e.g. EVALUATE_ARGS="--scenario mix --policies tradeoff,random".
evaluate: models
	$(PY) -m faasml bench evaluate $(EVALUATE_ARGS)

evaluate-quick: models
	$(PY) -m faasml bench evaluate --quick $(EVALUATE_ARGS)

clean:
	rm -rf $(VENV) build .pytest_cache

# Deploying to a cluster (docs/deployment.md): multi-arch images pushed by faas-cli publish
# (docker buildx), the stack deployed to a gateway, and a k3s cluster stood up from edge/.
FAAS_CLI ?= faas-cli
OPENFAAS_URL ?= http://127.0.0.1:8080
PLATFORMS ?= linux/amd64,linux/arm64
EDGE_NODE_CLASS ?= cloud
AGENTS ?=
EDITION ?= ce

.PHONY: publish deploy edge-up

publish:
	$(FAAS_CLI) publish -f $(STACK) --platforms $(PLATFORMS)

# --gateway: faas-cli would otherwise take provider.gateway over OPENFAAS_URL.
deploy:
	$(FAAS_CLI) deploy -f $(STACK) --gateway $(OPENFAAS_URL)

edge-up:
	sudo NODE_CLASS=$(EDGE_NODE_CLASS) AGENTS="$(AGENTS)" EDITION=$(EDITION) edge/up.sh

# Reliability and security (docs/reliability.md): faults injected under load into a
# throw-away `faasml up` on free loopback ports, and the long run of the property-based
# tests. CHAOS_ARGS adds options, e.g. CHAOS_ARGS="--duration 10 --experiments hang,overload".
.PHONY: chaos fuzz
CHAOS_ARGS ?=
FUZZ_TESTS := tests/selector/test_fuzz.py tests/executor/test_fuzz.py tests/runtime/test_fuzz.py tests/security/test_fuzz_parser.py

chaos: models
	$(PY) -m faasml.bench.chaos $(CHAOS_ARGS)

fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(PY) -m pytest -q -p no:cacheprovider $(FUZZ_TESTS) $(PYTEST_ARGS)

# Function images (docs/deployment.md#images): the stock faas-cli builds every CPU
# function's image on podman (podman-docker's `docker`), from a local Debian base and a
# local of-watchdog image that it makes when absent; no registry needed. Put faas-cli and
# fwatchdog on the PATH (or name them in FAAS_CLI / OF_WATCHDOG). `make bench-images`
# measures each image's size, layers and cold start (container start -> ready).
# PLATFORMS given here (`make images PLATFORMS=linux/arm64`) builds for those platforms,
# another architecture under qemu (apt-get install qemu-user-static binfmt-support) with
# its of-watchdog (fwatchdog-arm64 on the PATH or OF_WATCHDOG_ARM64) and its tag suffixed
# (:0.1.0-arm64); left at its default (publish's list), images are this machine's only.
# FUNCTIONS="selector efficientnet-lite0-int8" builds only those.
.PHONY: images bench-images
FUNCTIONS ?=
IMAGE_PLATFORMS = $(if $(filter command line environment,$(origin PLATFORMS)),--platform $(PLATFORMS),)
images: models
	$(PY) -m faasml images build -f $(STACK) $(IMAGE_PLATFORMS) $(foreach f,$(FUNCTIONS),--filter $(f))

bench-images: install
	$(PY) -m faasml bench images -f $(STACK) $(IMAGE_PLATFORMS) $(foreach f,$(FUNCTIONS),--filter $(f))

# The fast path (docs/executors.md, docs/selector.md): micro-batched executors against one
# request at a time, part of `make bench` (which prints each figure beside its baseline).
.PHONY: bench-batching
bench: bench-batching

bench-batching: models
	$(PY) -m faasml bench batching --models $(MODELS)

# OpenFaaS's provider conformance suite (docs/runtime.md#conformance-openfaas-certifier):
# stand-in images of what it deploys, `faasml up --containers podman --empty`, then the
# stock certifier.test -enableAuth against it (~4 min). Needs podman, certifier.test,
# faas-cli and both watchdogs on the PATH. CONFORMANCE_ARGS adds options (--run REGEX).
.PHONY: conformance
CONFORMANCE_ARGS ?=

conformance: install
	$(PY) -m faasml conformance $(CONFORMANCE_ARGS)
