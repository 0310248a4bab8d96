#!/usr/bin/env bash
# Create (once) the Python venv of the project bench's peers (bench/peers.py): ConnectorX,
# the ADBC PostgreSQL driver, DuckDB, Sling, pyodps with pandas, pyarrow.
# DuckDB's postgres extension normally downloads at run time; it is pinned here from the PyPI
# package that ships the extension DuckDB signs (loaded with unsigned extensions refused), and
# duckdb is pinned to the matching version. Sling's wheel downloads its binary from GitHub at
# first use, so it is installed but usually reported as "cannot run offline".
# Prints the venv's python. Location: $FERRY_BENCH_VENV or ~/.cache/ferry-bench-venv.
set -euo pipefail
venv=${FERRY_BENCH_VENV:-$HOME/.cache/ferry-bench-venv}
stamp="$venv/.ferry-bench-ok-2"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check \
    pyarrow pandas connectorx adbc-driver-manager adbc-driver-postgresql \
    "duckdb==1.5.5" "duckdb-extension-postgres==1.5.5" sling \
    pyodps zstandard lz4 >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
