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
pgdir="$work/pg"
cleanup() { "$root/scripts/pg-stop.sh" "$pgdir" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
url=$("$root/scripts/pg-start.sh" "$pgdir" | tail -1)
hostpart=${url#*@}
export FERRY_CATALOG="$work/datasources.json"
export FERRY_BENCH_PG_PASSWORD=ferry
"$ferry" datasource add bench_pg --type postgresql --jdbc-url "jdbc:postgresql://$hostpart" \
  --username ferry --password-env FERRY_BENCH_PG_PASSWORD >/dev/null
log "generating person ($rows rows)"
"$ferry" bench --generate person --rows "$rows" --into bench_pg >&2
psql -X -q "$url" -c "CREATE TABLE public.person_dst (LIKE public.person INCLUDING ALL)"

job() { # job LEG -> path
  local writer
  case $1 in
    pg-parquet) writer="{\"name\": \"parquet\", \"parameter\": {\"path\": \"$work/out\", \"writeMode\": \"truncate\"}}" ;;
    pg-pg) writer='{"name": "postgresqlwriter", "parameter": {"datasource": "bench_pg", "table": ["public.person_dst"], "column": ["*"]}}' ;;
  esac
  cat >"$work/$1.json" <<JSON
{"job": {"setting": {"speed": {"channel": 2}}, "content": [{
  "reader": {"name": "postgresqlreader", "parameter": {"datasource": "bench_pg",
    "table": ["public.person"], "column": ["*"], "splitPk": "id"}},
  "writer": $writer}]}}
JSON
  echo "$work/$1.json"
}

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
