#!/usr/bin/env bash
# A/B of two ferry binaries on the same throwaway server and data (a server as users run
# one: FERRY_PG_DURABLE=1, logged `person_dst` with a primary key), alternating the two
# builds, 3 runs each: wall time, CPU-seconds (user + system) and peak RSS of the ferry
# process, then psql's binary COPY TO /dev/null 3 times for reference.
#   OLD=path/to/ferry NEW=path/to/ferry bench/ab.sh
#   LEGS="pg-parquet-1 pg-parquet-2 pg-pg-1 pg-pg-2"   leg-channels (default: the two pg-parquet)
#   ROWS=5000000                                         `person` rows
# Build each binary with `cargo build --release -p ferry-cli` at the commit to compare and
# copy target/release/ferry aside.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/ferry-ab.XXXXXX)
chmod 755 "$work"
ferry=${NEW:?set NEW (and OLD) to two ferry binaries}
: "${OLD:?set OLD (and NEW) to two ferry binaries}"
log() { echo "[ab $(date -u +%H:%M:%S)] $*" >&2; }
# shellcheck source=bench/common.sh
source "$root/bench/common.sh"
trap bench_cleanup EXIT
bench_pg ab "${ROWS:-5000000}" 1
for leg in ${LEGS:-pg-parquet-1 pg-parquet-2}; do
  l=${leg%-*}; ch=${leg##*-}
  job=$(bench_job "$l" "$ch" ab)
  for rep in 1 2 3; do
    for which in old new; do
      bin=$OLD; [ "$which" = new ] && bin=$NEW
      [ "$l" = pg-pg ] && psql -X -q "$url" -c "TRUNCATE public.person_dst" >/dev/null
      sync; sleep 1
      /usr/bin/time -f "%e %U %S %M" -o "$work/t" "$bin" run "$job" >/dev/null 2>"$work/err" ||
        { cat "$work/err" >&2; exit 1; }
      read -r wall usr sys rss < "$work/t"
      echo "$leg $which rep$rep wall=${wall}s cpu=$(echo "$usr + $sys" | bc)s rss=$((rss / 1024))MiB"
    done
  done
done
for rep in 1 2 3; do
  /usr/bin/time -f "%e %U %S" -o "$work/t" \
    psql -X -q "$url" -c "COPY public.person TO STDOUT (FORMAT binary)" >/dev/null
  read -r wall usr sys < "$work/t"
  echo "psql-null rep$rep wall=${wall}s cpu=$(echo "$usr + $sys" | bc)s"
done
