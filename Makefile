# Flux-Gate: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: bootstrap build demo chaos test lint unit bench clean

bootstrap:
	@scripts/bootstrap

build: bootstrap
	$(CARGO) build --release --workspace --bins --examples

## The main job: the worker-crash chaos scenario on the local stack; prints the verdict and
## the path of its markdown report.
demo: build
	target/release/fgchaos run --target local scenarios/worker-crash.yaml

## The whole scenario suite on the local stack, with JUnit output.
chaos: build
	target/release/fgchaos run --target local scenarios/*.yaml --junit reports/junit.xml

## Every check CI runs: formatting, lints, unit and integration tests on real components.
test: bootstrap lint
	$(CARGO) test --workspace --all-targets

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: build
	bench/api.sh
	bench/worker-drain.sh
	bench/proxy.sh
	bench/loadgen.sh

clean:
	$(CARGO) clean
