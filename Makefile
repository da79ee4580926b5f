# Flux-Gate: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: bootstrap build demo test lint unit bench clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(CARGO) build --release --workspace --bins --examples

## The main job: bring the stack up, run a flash sale through it, reconcile, tear down.
demo: build
	$(CARGO) run --release -q -p flux-gate-core --example stack -- demo

## Every check CI runs: formatting, lints, unit and integration tests on real components.
test: bootstrap lint
	$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: build
	bench/api.sh
	bench/worker-drain.sh

clean:
	$(CARGO) clean
