# Flux-Gate image: `flux-gate` (every service: api, worker, waiting-room, migrate, probe) and
# `fgchaos` (the harness; `fgchaos proxy` stands in for Toxiproxy where there is no registry).
#
# Why it is built this way:
# - Base images are build arguments, so a machine without a registry can substitute a locally
#   imported image (scripts/docker-images makes `fluxgate/base:bookworm` with debootstrap).
# - Stage order is for Docker's classic builder (no BuildKit), which builds every stage that
#   comes *before* the `--target` stage: `runtime-base` and `prebuilt` come first, so
#   `--target prebuilt` (binaries built on the host, used by docker-compose.local.yml) never
#   compiles Rust. The last stage, `runtime`, is the default: `docker build .` compiles from
#   source in `build` and needs nothing but Docker with BuildKit (the default since Docker 23,
#   and `docker compose`), which skips the unused `prebuilt` stage. The classic builder runs
#   `prebuilt` on the way, so there it needs target/release binaries (`cargo build --release`).
# - No apt-get in the runtime stages: flux-gate needs no TLS roots, and the healthcheck is
#   `flux-gate probe` (slim images have no curl). Host binaries need bookworm's glibc (2.36).
#
#   docker build -t fluxgate/flux-gate .                                   # from source
#   docker build --target prebuilt --build-arg PROFILE=debug \
#       --build-arg RUNTIME_IMAGE=fluxgate/base:bookworm -t fluxgate/flux-gate:local .

ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG RUNTIME_IMAGE=debian:bookworm-slim

# ---- what every runtime image has: an unprivileged user, the port, the healthcheck ----------
FROM ${RUNTIME_IMAGE} AS runtime-base
RUN useradd --system --uid 10001 --user-group --home-dir /nonexistent --no-create-home \
        --shell /usr/sbin/nologin fluxgate
ENV FG_LISTEN=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=5s --timeout=3s --start-period=30s --retries=3 \
    CMD ["flux-gate", "probe", "--timeout", "2s", "http://127.0.0.1:8080/health"]
USER fluxgate
ENTRYPOINT ["flux-gate"]
CMD ["--help"]

# ---- binaries built on the host (`cargo build [--release]`), copied as they are --------------
FROM runtime-base AS prebuilt
ARG PROFILE=release
COPY target/${PROFILE}/flux-gate target/${PROFILE}/fgchaos /usr/local/bin/

# ---- compile from source (bundled librdkafka: make, a C compiler, zlib, pkg-config) ---------
FROM ${RUST_IMAGE} AS build
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential pkg-config zlib1g-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
# The workspace's [patch.crates-io] points at the vendored noxious.
COPY third_party third_party
COPY flux-gate-core flux-gate-core
COPY flux-gate-contract flux-gate-contract
COPY flux-gate-testbed flux-gate-testbed
COPY flux-gate-chaos flux-gate-chaos
RUN cargo build --release --locked -p flux-gate-core -p flux-gate-chaos --bins

# ---- default: the runtime image with binaries compiled above --------------------------------
FROM runtime-base AS runtime
COPY --from=build /src/target/release/flux-gate /src/target/release/fgchaos /usr/local/bin/
