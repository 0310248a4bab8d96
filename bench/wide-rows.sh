#!/usr/bin/env bash
# Peak memory against row width (issue #14): 12,000 rows of 200 KB text (2.3 GiB) copied
# PostgreSQL -> Parquet and PostgreSQL -> PostgreSQL (logged target with a primary key) at
# 2 channels, on a throwaway PostgreSQL; prints peak RSS (GNU time) and elapsed seconds.
# Before issue #14 the runtime cut writer batches at 8,192 rows whatever their size and
# peaked at 3.2 GiB here; batches are now cut at about 8 MiB as well.
#
#   bench/wide-rows.sh [ROWS] [KB_PER_ROW]     defaults 12000 and 200
#   FERRY_BENCH_PROFILE=release|dev            cargo profile (default release)
#   CARGO_TARGET_DIR                           default ~/.cache/ferry-target-bench
#   FERRY_BIN=PATH                             measure this ferry binary instead (no build)
#   FERRY_BENCH_CHANNELS="1 4"                 channel counts to run (default "1 4")
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
rows=${1:-12000}
kb=${2:-200}
profile=${FERRY_BENCH_PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/ferry-target-bench}
if [ -n "${FERRY_BIN:-}" ]; then
  ferry=$FERRY_BIN
elif [ "$profile" = release ]; then
  cargo build --release -p ferry-cli --quiet
  ferry="$CARGO_TARGET_DIR/release/ferry"
else
  cargo build -p ferry-cli --quiet
  ferry="$CARGO_TARGET_DIR/debug/ferry"
fi
if ! [ -x /usr/bin/time ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq time >/dev/null
fi
work=$(mktemp -d /tmp/ferry-wide.XXXXXX)
chmod 755 "$work"
cleanup() { "$root/scripts/pg-stop.sh" "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }
trap cleanup EXIT
url=$("$root/scripts/pg-start.sh" "$work/pg")
psql "$url" -qX -v ON_ERROR_STOP=1 <<SQL
CREATE TABLE wide_src (id bigint PRIMARY KEY, body text);
ALTER TABLE wide_src ALTER COLUMN body SET STORAGE EXTERNAL;
INSERT INTO wide_src SELECT g, repeat(md5(g::text), $kb * 1024 / 32) FROM generate_series(1, $rows) g;
CREATE TABLE wide_dst (id bigint PRIMARY KEY, body text);
ALTER TABLE wide_dst ALTER COLUMN body SET STORAGE EXTERNAL;
SQL
size=$(psql "$url" -qXAt -c "SELECT pg_size_pretty(sum(octet_length(body))) FROM wide_src")
reader="{\"name\": \"postgresqlreader\", \"parameter\": {\"connection\": [{\"jdbcUrl\": [\"$url\"], \"table\": [\"wide_src\"]}], \"column\": [\"id\", \"body\"], \"splitPk\": \"id\", \"username\": \"ferry\", \"password\": \"ferry\"}}"
echo "| leg | rows | text | peak RSS | elapsed |"
echo "| --- | --- | --- | --- | --- |"
for ch in ${FERRY_BENCH_CHANNELS:-1 4}; do
  cat > "$work/to-parquet.json" <<JSON
{"job": {"setting": {"speed": {"channel": $ch}}, "content": [{"reader": $reader,
  "writer": {"name": "parquet", "parameter": {"path": "$work/out", "writeMode": "truncate"}}}]}}
JSON
  cat > "$work/to-pg.json" <<JSON
{"job": {"setting": {"speed": {"channel": $ch}}, "content": [{"reader": $reader,
  "writer": {"name": "postgresqlwriter", "parameter": {"connection": [{"jdbcUrl": "$url", "table": ["wide_dst"]}], "column": ["id", "body"], "truncate": true}}}]}}
JSON
  for leg in to-parquet to-pg; do
    /usr/bin/time -f "%M %e" -o "$work/time" "$ferry" run "$work/$leg.json" --progress-secs 0 >/dev/null 2>"$work/$leg.log" \
      || { cat "$work/$leg.log" >&2; exit 1; }
    read -r kib secs < "$work/time"
    printf '| PostgreSQL %s, %s channel(s) | %s | %s | %s MiB | %s s |\n' "$leg" "$ch" "$rows" "$size" "$((kib / 1024))" "$secs"
  done
done
