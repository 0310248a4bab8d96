#!/usr/bin/env bash
# The cost of sharding (issue #15): the same job run by one `ferry run` process and as a
# sharded run — `ferry coordinate` plus 1, 2 and 4 `ferry run --state DIR` shard processes
# on this machine — PG -> Parquet and PG -> PostgreSQL (a logged table with a primary key,
# two-phase commit), `person` table, medians of 3 wall times, release build. The shards
# compete for the same cores here, so this measures the protocol's overhead (planning,
# a process per shard, receipts on disk, the waits, the one commit), not a speed-up; see
# docs/scale-out.md for what N machines give.
#
#   bench/shards.sh [ROWS]         default 5000000
#   CARGO_TARGET_DIR               as scripts/test (scripts/target-dir.sh)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
# shellcheck source=scripts/target-dir.sh
. scripts/target-dir.sh
rows=${1:-5000000}
repeat=3
log() { echo "[shards $(date -u +%H:%M:%S)] $*" >&2; }

log "building ferry (release)"
cargo build --release -p ferry-cli --quiet
ferry="${CARGO_TARGET_DIR:-$root/target}/release/ferry"

work=$(mktemp -d /tmp/ferry-shards.XXXXXX)
chmod 755 "$work"
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap bench_cleanup EXIT
bench_pg bench_pg "$rows"
job() { bench_job "$1" 2 bench_pg; }

prep() { # prep LEG: the target empty again
  rm -rf "$work/out" "$work/state" "$work/runs"
  psql -X -q "$url" -c "TRUNCATE public.person_dst" >/dev/null
  sync
}

single() { # single JOB -> seconds
  local t0; t0=$(date +%s.%N)
  "$ferry" run "$1" --progress-secs 0 --state "$work/runs" >"$work/last.log" 2>&1
  echo "$(date +%s.%N) - $t0" | bc
}

sharded() { # sharded JOB K -> seconds
  local t0 pids=() i
  t0=$(date +%s.%N)
  "$ferry" coordinate "$1" --shards "$2" --state "$work/state" --timeout 3600 >"$work/coord.log" 2>&1 &
  local coord=$!
  for i in $(seq 0 $(($2 - 1))); do
    mkdir -p "$work/pod-$i"
    (cd "$work/pod-$i" && JOB_COMPLETION_INDEX=$i "$ferry" run "$1" --state "$work/state" --progress-secs 0 >"$work/shard-$i.log" 2>&1) &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p"; done
  wait "$coord"
  grep -q "in one commit" "$work/coord.log"
  echo "$(date +%s.%N) - $t0" | bc
}

median() { printf '%s\n' "$@" | sort -n | sed -n "$(( ($# + 1) / 2 ))p"; }

check() { # check LEG: the target holds every row
  case $1 in
    pg-pg) [ "$(psql -X -tAc 'SELECT count(*) FROM public.person_dst' "$url")" = "$rows" ] ;;
    pg-parquet) "$ferry" sql "SELECT count(*) AS n FROM '$work/out/**/*.parquet'" --format csv | grep -qx "$rows" ;;
  esac
}

echo "| leg | one process | 1 shard | 2 shards | 4 shards |"
echo "| --- | --- | --- | --- | --- |"
for leg in pg-parquet pg-pg; do
  j=$(job "$leg")
  line="| $leg"
  for k in 0 1 2 4; do
    times=()
    for _ in $(seq "$repeat"); do
      prep
      if [ "$k" = 0 ]; then times+=("$(single "$j")"); else times+=("$(sharded "$j" "$k")"); fi
      check "$leg" || { log "$leg with $k shards: the target does not hold $rows rows"; exit 1; }
    done
    m=$(median "${times[@]}")
    log "$leg k=$k: ${times[*]} -> median $m s"
    line="$line | $(printf '%.2f' "$m") s"
  done
  echo "$line |"
done
echo
echo "$rows rows, $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), PostgreSQL $(psql -X -tAc 'show server_version' "$url") (scripts/pg-start.sh: fsync off), command: bench/shards.sh $rows"
