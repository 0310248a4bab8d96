# Sourced by scripts/test and scripts/demo so that they build into one cargo target
# directory: $CARGO_TARGET_DIR when set; else ~/.cache/ferry-target when it exists (a
# cache kept by CI from earlier runs); else ./target, where plain `cargo run` and
# `cargo build` build too.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d "$HOME/.cache/ferry-target" ]; then
  export CARGO_TARGET_DIR=$HOME/.cache/ferry-target
fi
export CARGO_INCREMENTAL=${CARGO_INCREMENTAL:-0}
