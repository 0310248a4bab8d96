#!/usr/bin/env bash
# Where the CPU goes (issue #19): a whole-machine sampling profile (`perf record -a -e
# cpu-clock`, every process, kernel included) while one transfer runs, for ferry and for
# the tool it is measured against, on a server as users run one (fsync on,
# max_prepared_transactions = 0; FERRY_PG_DURABLE=1 scripts/pg-start.sh) and a PostgreSQL
# target that is a logged table with a primary key:
#   pg-null     psql COPY TO STDOUT > /dev/null          (what reading the table costs)
#   pg-parquet  ferry 1 and 2 channels; DuckDB's postgres scanner with 2 threads
#   pg-pg       psql | psql; ferry 1 and 2 channels
# For each tool (3 runs): the median wall time, mean CPU-seconds by process (the loading
# and the reading PostgreSQL backend, the client, the kernel's share of each) and the
# client's and the backends' top symbols. Writes bench/PROFILE.md (bench/profile.py).
#
#   bench/profile.sh [ROWS]        default 5000000
#   FERRY_PROFILE_OUT=PATH          default bench/PROFILE.md
#   FERRY_PROFILE_REPEAT=3          runs per tool (CPU-seconds averaged, median wall time)
#   CARGO_TARGET_DIR                default ~/.cache/ferry-target-bench (as bench/run.sh)
# Needs perf (Debian's linux-perf, installed when missing) and root or
# kernel.perf_event_paranoid <= 0 for a whole-machine profile.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rows=${1:-5000000}
out_md=${FERRY_PROFILE_OUT:-$root/bench/PROFILE.md}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target-bench}
freq=499
repeat=${FERRY_PROFILE_REPEAT:-3}
log() { echo "[profile $(date -u +%H:%M:%S)] $*" >&2; }

if ! command -v perf >/dev/null; then
  log "installing perf (linux-perf)"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq linux-perf >/dev/null
fi
log "building ferry (release)"
cargo build --release -p ferry-cli --quiet
ferry="$CARGO_TARGET_DIR/release/ferry"
py=$("$root/scripts/bench-venv.sh")

work=$(mktemp -d /tmp/ferry-profile.XXXXXX)
chmod 755 "$work"
# shellcheck source=bench/common.sh
. "$root/bench/common.sh"
trap bench_cleanup EXIT
log "starting PostgreSQL (fsync on, max_prepared_transactions = 0)"
bench_pg bench_pgd "$rows" 1
pq() { psql -X -q -v ON_ERROR_STOP=1 "$url" "$@"; }
job() { bench_job "$1" "$2" bench_pgd; }

copy_out="COPY public.person TO STDOUT (FORMAT binary)"
copy_in="COPY public.person_dst FROM STDIN (FORMAT binary)"
runs="$work/runs.tsv"
: >"$runs"
n=0
profile() { # profile LEG TOOL COMMAND...: $repeat profiled runs
  local r
  for r in $(seq "$repeat"); do profile_once "$@"; done
}
profile_once() { # profile_once LEG TOOL COMMAND...: an untimed warm-up read of the source, then one profiled run
  local leg=$1 tool=$2; shift 2
  n=$((n + 1))
  rm -rf "$work/out" "$work/duck.parquet"
  pq -c "TRUNCATE public.person_dst" -c "CHECKPOINT" >/dev/null
  sync
  pq -c "SELECT count(*) FROM public.person" >/dev/null
  local data="$work/perf-$n.data"
  log "$leg: $tool"
  # The wall time is taken inside the profiled command: perf's own start and stop (about a
  # second) are not the transfer's.
  perf record -a -e cpu-clock -F "$freq" -o "$data" --quiet -- \
    bash -c 'date +%s.%N >"$0"; "$@"; rc=$?; date +%s.%N >>"$0"; exit $rc' "$work/wall-$n" "$@" \
    >"$work/run-$n.log" 2>&1 || { cat "$work/run-$n.log" >&2; log "$leg: $tool failed"; exit 1; }
  local t0 t1
  { read -r t0; read -r t1; } <"$work/wall-$n"
  case $leg in
    pg-pg) got=$(pq -tAc "SELECT count(*) FROM public.person_dst") ;;
    pg-parquet) local files="$work/out/**/*.parquet"
      if [ -f "$work/duck.parquet" ]; then files="$work/duck.parquet"; fi
      got=$("$ferry" sql "SELECT count(*) AS n FROM '$files'" --format csv | tail -1) ;;
    *) got=$rows ;;
  esac
  if [ "$got" != "$rows" ]; then log "$leg: $tool wrote $got rows, not $rows"; exit 1; fi
  perf script -i "$data" -F pid,tid,comm,ip,sym,dso 2>/dev/null | gzip -1 >"$work/perf-$n.txt.gz"
  printf '%s\t%s\t%s\t%s\n' "$leg" "$tool" "$(echo "$t1 - $t0" | bc)" "$work/perf-$n.txt.gz" >>"$runs"
}

psql_cmd() { printf 'psql -X -q -v ON_ERROR_STOP=1 %q -c %q' "$url" "$1"; }

profile pg-null "psql COPY TO /dev/null" bash -c "$(psql_cmd "$copy_out") > /dev/null"
profile pg-parquet "ferry 1 ch" "$ferry" run "$(job pg-parquet 1)" --progress-secs 0
profile pg-parquet "ferry 2 ch" "$ferry" run "$(job pg-parquet 2)" --progress-secs 0
profile pg-parquet "DuckDB 2 threads" "$py" bench/peers.py child --tool duckdb --leg pg-parquet \
  --channels 2 --pg-url "$url" --table public.person --out "$work/duck.parquet"
profile pg-pg "psql | psql" bash -o pipefail -c "$(psql_cmd "$copy_out") | $(psql_cmd "$copy_in")"
profile pg-pg "ferry 1 ch" "$ferry" run "$(job pg-pg 1)" --progress-secs 0
profile pg-pg "ferry 2 ch" "$ferry" run "$(job pg-pg 2)" --progress-secs 0

"$py" bench/profile.py "$runs" --freq "$freq" --rows "$rows" --cores "$(nproc)" --out "$out_md" \
  --command "bench/profile.sh $rows" \
  --machine "$(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)), PostgreSQL $(pq -tAc 'show server_version')"
log "wrote $out_md"
