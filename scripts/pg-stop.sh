#!/usr/bin/env bash
# Stop a server started by scripts/pg-start.sh DIR.
set -uo pipefail
dir=${1:?usage: pg-stop.sh DIR}
[ -f "$dir/data/postmaster.pid" ] || exit 0
PGCTL=$(command -v pg_ctl || ls /usr/lib/postgresql/*/bin/pg_ctl | head -1)
if [ "$(id -u)" = 0 ]; then
  runuser -u postgres -- "$PGCTL" -D "$dir/data" -m fast -w stop >/dev/null
else
  "$PGCTL" -D "$dir/data" -m fast -w stop >/dev/null
fi
