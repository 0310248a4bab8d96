#!/usr/bin/env bash
# The full fault matrix of issue #14: FERRY_FAULT_TRIES (default 20) SIGKILLs at random
# points of each of six legs (PG -> PG with 1 and 2 channels, two-phase / single
# transaction / staged, PG -> ODPS on the local server, PG -> Parquet), each resumed with
# `ferry run --resume --verify` and checked exact with nothing left behind
# (engine/cli/tests/faults.rs, kills_at_random_points_of_every_leg_resume_to_an_exact_target).
# scripts/test runs the same test with 2 tries per leg.
#
#   bench/fault-matrix.sh [TRIES]       default 20 (120 kills, 27 minutes on 2 cores, debug build)
#   CARGO_TARGET_DIR                    as scripts/test (scripts/target-dir.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/target-dir.sh
. scripts/target-dir.sh
export FERRY_FAULT_TRIES=${1:-${FERRY_FAULT_TRIES:-20}}
pgdir=$(mktemp -d /tmp/ferry-matrix-pg.XXXXXX)
cleanup() { "$root/scripts/pg-stop.sh" "$pgdir" >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap cleanup EXIT
FERRY_TEST_PG_URL=$("$root/scripts/pg-start.sh" "$pgdir")
export FERRY_TEST_PG_URL
start=$(date +%s)
cargo test -p ferry-cli --test faults -- --nocapture --exact \
  kills_at_random_points_of_every_leg_resume_to_an_exact_target
echo "fault matrix: $FERRY_FAULT_TRIES tries per leg passed in $(( $(date +%s) - start )) s"
