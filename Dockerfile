# syntax=docker/dockerfile:1
#
# ferry's container image: the `ferry` binary on a distroless base, running as non-root.
#
#   docker build -t REGISTRY/ferry:TAG .
#   docker run --rm REGISTRY/ferry:TAG --help
#
# Needs BuildKit (the default builder of Docker 23 and later; `docker buildx build` before)
# for the cache mounts below. deploy/kubernetes/ runs this image.

# --- build ---------------------------------------------------------------------------
# The Rust toolchain on Debian 12 (bookworm): the same Debian release, and so the same
# glibc, as the runtime image below. The workspace needs Rust 1.89 or later
# (rust-version in Cargo.toml); rust:1 is the newest stable 1.x.
FROM rust:1-bookworm AS build
WORKDIR /src
# Build in /src/target whatever the environment says (scripts/target-dir.sh may set it).
ENV CARGO_TARGET_DIR=/src/target
# The whole workspace: every member's Cargo.toml is needed to resolve it, and the CLI
# embeds files from testdata/ (the demo's job files). .dockerignore keeps target/, .git/
# and run leftovers out of the build context.
COPY . .
# --locked: build exactly the versions in Cargo.lock; fail rather than update it.
# The cache mounts keep the downloaded crates and the compiled dependencies between
# builds, so a rebuild after a source change recompiles ferry's own crates only. A cache
# mount is not part of the image and is not there in later steps, so the binary is copied
# out of /src/target in this same RUN. (C parts — ring, zstd — build with the gcc that
# the rust image has; ferry uses rustls, not OpenSSL, so no libssl is needed.)
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git/db \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked -p ferry-cli --bin ferry \
 && install -D -m 0755 /src/target/release/ferry /out/ferry

# --- runtime -------------------------------------------------------------------------
# distroless cc: glibc, libgcc and CA certificates, no shell and no package manager.
# ferry is linked against glibc dynamically, so the static image would not do.
# :nonroot runs as uid/gid 65532 ("nonroot"), which the Kubernetes manifests also set.
FROM gcr.io/distroless/cc-debian12:nonroot
LABEL org.opencontainers.image.title="ferry" \
      org.opencontainers.image.description="ferry: a data-sync engine (DataWorks / DataX jobs)" \
      org.opencontainers.image.licenses="Apache-2.0"
COPY --from=build /out/ferry /usr/local/bin/ferry
USER 65532:65532
# Arguments given to the container (`docker run IMAGE run job.json ...`, or `args:` in a
# Kubernetes pod) are ferry's arguments.
ENTRYPOINT ["/usr/local/bin/ferry"]
