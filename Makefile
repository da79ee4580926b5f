# Flux-Gate: the two commands a newcomer needs are `make demo` and `make test`.
SHELL := bash
CARGO ?= cargo

.PHONY: bootstrap build demo chaos test lint unit bench clean docker-images docker-up docker-down docker-test swarm-test swarm-nodes-test verify-harness verify-explore bench-explore

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

## Every check CI runs: formatting, lints, unit and integration tests on real components, then
## the chaos scenarios on the docker target when a Docker engine answers (FG_REQUIRE_DOCKER=1
## makes a missing engine a failure): the plain project's five, then the Sentinel project's
## four (docs/docker.md); then the swarm target's single-node proof (`make swarm-test`).
test: bootstrap lint
	$(CARGO) test --workspace --all-targets
	cd third_party/noxious && CARGO_TARGET_DIR=$(CURDIR)/target/noxious $(CARGO) test --quiet
	FG_PROFILE=debug scripts/docker-test
	FG_PROFILE=debug scripts/swarm-test

## The Flux-Gate compose project from local images (no registry needed): images, up, down.
docker-images: build
	scripts/docker-images

docker-up: docker-images
	docker-compose -f docker-compose.yml -f docker-compose.local.yml up -d

docker-down:
	docker-compose -f docker-compose.yml -f docker-compose.local.yml down -v

## worker-crash, api-kill, db-outage, kafka-loss and network-partition on the docker target,
## against a throwaway compose project built from local images; then redis-failover,
## redis-partition, worker-scale and db-long-outage against a second one with Redis Sentinel
## and four workers (docker-compose.redis-ha.yml).
docker-test: build
	scripts/docker-test

## worker-crash, api-kill, db-outage, kafka-loss and network-partition on the swarm target, on
## this engine made a single-node swarm; a node drained and activated; one load from two
## generators running as a Swarm service, merged; killed runs' guardians (a paused task, a
## drained node); three explore trials that must find nothing; a mutant (Redis without its
## append-only file) that must be caught; the engine checked to be left as found (about 5
## minutes). The last step of `make test`.
swarm-test: build
	scripts/swarm-test

## Opt-in, not in `make test`: a swarm of three node containers on this machine
## (scripts/swarm-nodes), the stack spread over them (docker/swarm/placement.yml); three load
## generators, one per node, merged into one load; worker-crash and api-kill,
## a node lost for 30 s (scenarios/swarm/node-loss.yaml) and a killed run's guardian joining
## its node again, and a mutant caught; the machine checked to be left as found (about 5
## minutes with debug images, docs/swarm.md).
swarm-nodes-test: build
	scripts/swarm-nodes-test

## The mutation suite alone: deliberately broken builds must each fail with the checker named
## for their bug, the unbroken build must pass (docs/verdicts.md). `make test` runs it too.
verify-harness: bootstrap
	$(CARGO) build --workspace --bins
	$(CARGO) test --workspace --test mutants

## The whole proof of explore and shrink (docs/explore.md, "Proof"; 62–75 minutes): six broken
## builds each found with the default space and shrunk to at most two faults, then 100 trials
## on the unbroken build that must find nothing. `make test` runs its fast subset.
verify-explore: bootstrap
	$(CARGO) build --workspace --bins
	$(CARGO) test -p flux-gate-chaos --test explore_proof -- --test-threads=1 --nocapture

## Guided search against uniform on the broken builds whose bug needs a fault (docs/explore.md,
## "Guided against uniform"; 16 searches of at most 30 trials of about 15 s each: 52 minutes
## at 79628b5, two hours at most): prints the trial of each first failure.
bench-explore: bootstrap
	$(CARGO) build --workspace --bins
	$(CARGO) test -p flux-gate-chaos --test explore_strategies -- --test-threads=1 --nocapture

lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	$(CARGO) clippy -p flux-gate-chaos --test explore_proof --test explore_strategies -- -D warnings

bench: build
	bench/api.sh
	bench/worker-drain.sh
	bench/proxy.sh
	bench/loadgen.sh
	bench/generators.sh

clean:
	$(CARGO) clean
