#!/usr/bin/env bash
# ferry's project bench (issue #9), one command from the repo root on a fresh machine:
# on a throwaway PostgreSQL and a local `ferry odps serve`, generate the seed's `person`
# table and the 16-column `wide` table, then measure in the same run, each measurement
# repeated (min and median):
#   ferry   PostgreSQL -> null, -> PostgreSQL, -> Parquet, Parquet -> PostgreSQL,
#           PostgreSQL -> ODPS and ODPS -> PostgreSQL (record and Arrow tunnel), at 1 and 2 channels;
#   psql    binary COPY out to /dev/null, COPY in from a file, and the `psql | psql` pipe;
#   peers   ConnectorX + pyarrow, ADBC PostgreSQL + pyarrow, DuckDB's postgres extension,
#           Sling, pyodps with pandas (from PyPI, in the venv of scripts/bench-venv.sh);
# and write bench/RESULTS.md (tables, ratios, issue #9's targets met / not met).
#
#   bench/run.sh [PERSON_ROWS] [WIDE_ROWS]      defaults 5000000 and 2000000
#   bench/run.sh --big [PERSON_ROWS] [WIDE_ROWS] also 20M person rows (ferry legs), to show RSS stays flat
#   bench/run.sh --logged [PERSON_ROWS]           only the `person-logged` legs (below), into
#                                                 bench/RESULTS-logged.md
# Every run also measures `person-logged`: a second server as users run one (fsync on,
# max_prepared_transactions = 0, defaults otherwise; FERRY_PG_DURABLE=1 scripts/pg-start.sh),
# PostgreSQL targets that are logged tables with a primary key, ferry against psql and DuckDB.
#   FERRY_BENCH_BIG=1 / FERRY_BENCH_BIG_ROWS=N   same as --big / its row count (default 20000000)
#   FERRY_BENCH_REPEAT=3                          runs per measurement
#   FERRY_BENCH_PROFILE=release|dev               cargo profile (default release)
#   FERRY_BENCH_OUT=PATH                          where to write the results (default bench/RESULTS.md)
#   CARGO_TARGET_DIR                              default ~/.cache/ferry-target-bench (a warm release build)
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
big=${FERRY_BENCH_BIG:-0}
logged_only=0
if [ "${1:-}" = --big ]; then big=1; shift; fi
if [ "${1:-}" = --logged ]; then logged_only=1; shift; fi
person_rows=${1:-5000000}
wide_rows=${2:-2000000}
big_rows=${FERRY_BENCH_BIG_ROWS:-20000000}
repeat=${FERRY_BENCH_REPEAT:-3}
profile=${FERRY_BENCH_PROFILE:-release}
results_md=${FERRY_BENCH_OUT:-$root/bench/RESULTS.md}
if [ "$logged_only" = 1 ]; then results_md=${FERRY_BENCH_OUT:-$root/bench/RESULTS-logged.md}; fi
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target-bench}
big_flag=
if [ "$big" = 1 ]; then big_flag="--big "; fi
if [ "$logged_only" = 1 ]; then big_flag="--logged "; fi
command_line="bench/run.sh $big_flag$person_rows $wide_rows"
if [ "$logged_only" = 1 ]; then command_line="bench/run.sh --logged $person_rows"; fi

log() { echo "[bench $(date -u +%H:%M:%S)] $*" >&2; }

if ! command -v psql >/dev/null; then
  log "installing the PostgreSQL client (psql)"
  apt-get update -qq && apt-get install -y -qq postgresql-client >/dev/null
fi

log "building ferry ($profile)"
if [ "$profile" = release ]; then
  cargo build --release -p ferry-cli --quiet
  ferry="$CARGO_TARGET_DIR/release/ferry"
else
  cargo build -p ferry-cli --quiet
  ferry="$CARGO_TARGET_DIR/debug/ferry"
fi
log "bench venv (peers)"
py=$("$root/scripts/bench-venv.sh")

work=$(mktemp -d /tmp/ferry-bench.XXXXXX)
chmod 755 "$work"   # the postgres user must reach the data dir inside
pgdir="$work/pg"
pgd_dir="$work/pg-durable"
odps_pid=
cleanup() {
  if [ -n "$odps_pid" ]; then kill "$odps_pid" 2>/dev/null || true; wait "$odps_pid" 2>/dev/null || true; fi
  "$root/scripts/pg-stop.sh" "$pgdir" >/dev/null 2>&1 || true
  "$root/scripts/pg-stop.sh" "$pgd_dir" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
log "starting PostgreSQL"
url=$("$root/scripts/pg-start.sh" "$pgdir" | tail -1)
hostpart=${url#*@}
pg_version=$(psql -X "$url" -tAc 'show server_version')
export FERRY_CATALOG="$work/datasources.json"
export FERRY_BENCH_PG_PASSWORD=ferry
"$ferry" datasource add bench_pg --type postgresql --jdbc-url "jdbc:postgresql://$hostpart" \
  --username ferry --password-env FERRY_BENCH_PG_PASSWORD >/dev/null

log "starting the local ODPS endpoint (ferry odps serve)"
odps_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$ferry" odps serve --root "$work/odps" --listen "127.0.0.1:$odps_port" --auth none >"$work/odps.log" 2>&1 &
odps_pid=$!
for _ in $(seq 100); do
  python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $odps_port), 1)" 2>/dev/null && break
  sleep 0.1
done
odps_api="http://127.0.0.1:$odps_port/api"
"$ferry" datasource add bench_odps --type odps --endpoint "$odps_api" --project bench \
  --access-id ak --access-key sk >/dev/null

# Before each measurement group, wait (up to 2 minutes) for the 1-minute load to fall to
# the core count; peers.py records the load it starts at, and report.py writes no target
# verdict for a leg measured on a busy machine.
cores=$(nproc)
settle() {
  local waited=0
  # Dirty pages of the previous leg (5M rows written) are written back now, not during
  # the next measurement.
  sync
  while awk -v c="$cores" '{exit !($1 > c)}' /proc/loadavg && [ $waited -lt 120 ]; do
    sleep 5; waited=$((waited + 5))
  done
  if [ $waited -ge 120 ]; then log "the machine stays busy (load $(cut -d' ' -f1 /proc/loadavg) > $cores cores)"; fi
}

results="$work/results.jsonl"
: >"$results"
fb() { # fb SHAPE LEG [--tool LABEL] ferry-bench-args...
  local shape=$1 leg=$2 tool=ferry; shift 2
  if [ "$1" = --tool ]; then tool=$2; shift 2; fi
  settle
  log "$tool $shape $leg"
  "$py" bench/peers.py ferry --shape "$shape" --leg "$leg" --tool "$tool" -- "$ferry" bench "$@" --json --repeat "$repeat" \
    | tee -a "$results" >&2
}

measure_shape() { # measure_shape SHAPE TABLE [ferry-only]
  local shape=$1 t=$2 only=${3:-}
  local name=${t#*.}
  local staged="$work/staged_$name"
  fb "$shape" pg-null --from bench_pg --table "$t" --to null --channels 1,2 --split-pk id --baseline
  fb "$shape" pg-parquet --from bench_pg --table "$t" --to "parquet:$staged" --channels 1,2 --split-pk id --baseline
  fb "$shape" pg-pg --from bench_pg --table "$t" --to bench_pg --channels 1,2 --split-pk id --baseline
  fb "$shape" parquet-pg --from "parquet:$staged" --table "$t" --to bench_pg --channels 1,2 --baseline
  [ -n "$only" ] && { rm -rf "$staged"; return; }
  fb "$shape" pg-odps --from bench_pg --table "$t" --to bench_odps --channels 1,2 --split-pk id --keep
  fb "$shape" pg-odps --tool "ferry (arrow tunnel)" --from bench_pg --table "$t" --to bench_odps \
    --channels 1,2 --split-pk id --keep --writer-param arrow=true
  fb "$shape" odps-pg --from bench_odps --table "${name}_ferry_bench" --to bench_pg --channels 1,2
  fb "$shape" odps-pg --tool "ferry (arrow tunnel)" --from bench_odps --table "${name}_ferry_bench" \
    --to bench_pg --channels 1,2 --reader-param arrow=true
  settle
  log "psql $shape"
  "$py" bench/peers.py psql --shape "$shape" --pg-url "$url" --table "$t" --repeat "$repeat" --work "$work" \
    | tee -a "$results" >&2
  settle
  log "peers $shape"
  "$py" bench/peers.py peers --shape "$shape" --pg-url "$url" --table "$t" --repeat "$repeat" --work "$work" \
    --parquet-in "$staged" --odps-endpoint "$odps_api" --odps-table "${name}_ferry_bench" \
    | tee -a "$results" >&2
  "$ferry" odps sql --datasource bench_odps "DROP TABLE IF EXISTS ${name}_ferry_bench" >/dev/null 2>&1 || true
  rm -rf "$staged"
}

# What users load into: a server with fsync on and no prepared transactions, targets that
# are logged tables with a primary key. ferry, psql and DuckDB on the same data.
measure_logged() {
  log "starting a second PostgreSQL as users run one (fsync on, max_prepared_transactions = 0)"
  local durl dhost
  durl=$(FERRY_PG_DURABLE=1 "$root/scripts/pg-start.sh" "$pgd_dir" | tail -1)
  dhost=${durl#*@}
  "$ferry" datasource add bench_pgd --type postgresql --jdbc-url "jdbc:postgresql://$dhost" \
    --username ferry --password-env FERRY_BENCH_PG_PASSWORD >/dev/null
  log "generating person ($person_rows rows) on it"
  "$ferry" bench --generate person --rows "$person_rows" --into bench_pgd >&2
  psql -X -q "$durl" -c "VACUUM ANALYZE public.person" -c "CHECKPOINT" >/dev/null
  local staged="$work/staged_logged" shape=person-logged t=public.person
  fb "$shape" pg-null --from bench_pgd --table "$t" --to null --channels 1,2 --split-pk id
  fb "$shape" pg-parquet --from bench_pgd --table "$t" --to "parquet:$staged" --channels 1,2 --split-pk id
  fb "$shape" pg-pg --from bench_pgd --table "$t" --to bench_pgd --channels 1,2 --split-pk id --target-pk id
  fb "$shape" parquet-pg --from "parquet:$staged" --table "$t" --to bench_pgd --channels 1,2 --target-pk id
  settle
  log "psql $shape"
  "$py" bench/peers.py psql --shape "$shape" --pg-url "$durl" --table "$t" --repeat "$repeat" --work "$work" \
    --target-pk id | tee -a "$results" >&2
  settle
  log "duckdb $shape"
  "$py" bench/peers.py peers --shape "$shape" --pg-url "$durl" --table "$t" --repeat "$repeat" --work "$work" \
    --parquet-in "$staged" --only duckdb --legs pg-parquet,pg-pg,parquet-pg --target-pk id \
    | tee -a "$results" >&2
  rm -rf "$staged"
  "$root/scripts/pg-stop.sh" "$pgd_dir" >/dev/null 2>&1 || true
}

if [ "$logged_only" = 1 ]; then
  measure_logged
else
log "generating person ($person_rows rows) and wide ($wide_rows rows)"
"$ferry" bench --generate person --rows "$person_rows" --into bench_pg >&2
"$ferry" bench --generate wide --rows "$wide_rows" --into bench_pg >&2
measure_shape person public.person
measure_shape wide public.wide
measure_logged
fi
if [ "$big" = 1 ]; then
  log "generating person_big ($big_rows rows)"
  psql -X -q "$url" -c "DROP TABLE public.person, public.wide" >/dev/null
  "$ferry" bench --generate person --rows "$big_rows" --into bench_pg --table public.person_big >&2
  repeat=1 measure_shape person-big public.person_big ferry-only
fi

"$py" bench/report.py "$results" --out "$results_md" --command "$command_line" --profile "$profile" \
  --repeat "$repeat" --pg-version "$pg_version" --python "$py"
cp "$results" "${results_md%.md}.jsonl"
log "wrote $results_md (raw measurements: ${results_md%.md}.jsonl)"
