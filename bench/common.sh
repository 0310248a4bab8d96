# Sourced by bench/shards.sh, bench/profile.sh and bench/ab.sh (which set $root, $work and $ferry).
#
# bench_pg NAME ROWS [DURABLE]: a throwaway PostgreSQL in $work/pg (fsync on and no
# prepared transactions when DURABLE=1), datasource NAME for it in $work's catalog, the
# generated `person` table of ROWS rows and an empty `person_dst` like it with a primary
# key. Sets $url and $pgdir; the caller's EXIT trap stops the server (bench_cleanup).
bench_pg() {
  local name=$1 rows=$2 durable=${3:-0} hostpart
  pgdir="$work/pg"
  url=$(FERRY_PG_DURABLE=$durable "$root/scripts/pg-start.sh" "$pgdir" | tail -1)
  hostpart=${url#*@}
  export FERRY_CATALOG="$work/datasources.json"
  export FERRY_BENCH_PG_PASSWORD=ferry
  "$ferry" datasource add "$name" --type postgresql --jdbc-url "jdbc:postgresql://$hostpart" \
    --username ferry --password-env FERRY_BENCH_PG_PASSWORD >/dev/null
  log "generating person ($rows rows)"
  "$ferry" bench --generate person --rows "$rows" --into "$name" >&2
  psql -X -q -v ON_ERROR_STOP=1 "$url" \
    -c "CREATE TABLE public.person_dst (LIKE public.person INCLUDING DEFAULTS)" \
    -c "ALTER TABLE public.person_dst ADD PRIMARY KEY (id)" \
    -c "VACUUM ANALYZE public.person" >/dev/null
}

bench_cleanup() { "$root/scripts/pg-stop.sh" "$work/pg" >/dev/null 2>&1 || true; rm -rf "$work"; }

# bench_job LEG CHANNELS DATASOURCE -> the path of a job reading `person` (splitPk id) into
# $work/out (LEG pg-parquet) or `person_dst` (LEG pg-pg) with CHANNELS channels.
bench_job() {
  local writer
  case $1 in
    pg-parquet) writer="{\"name\": \"parquet\", \"parameter\": {\"path\": \"$work/out\", \"writeMode\": \"truncate\"}}" ;;
    pg-pg) writer="{\"name\": \"postgresqlwriter\", \"parameter\": {\"datasource\": \"$3\", \"table\": [\"public.person_dst\"], \"column\": [\"*\"]}}" ;;
  esac
  cat >"$work/$1-$2.json" <<JSON
{"job": {"setting": {"speed": {"channel": $2}}, "content": [{
  "reader": {"name": "postgresqlreader", "parameter": {"datasource": "$3",
    "table": ["public.person"], "column": ["*"], "splitPk": "id"}},
  "writer": $writer}]}}
JSON
  echo "$work/$1-$2.json"
}
