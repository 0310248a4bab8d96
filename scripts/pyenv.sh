#!/usr/bin/env bash
# Create (once) the Python venv the cross-check tests use: pyodps, pyarrow, pandas, pytest,
# the compression codecs pyodps needs (zstandard, lz4, python-snappy), and
# kubernetes-validate (the offline schema check of deploy/kubernetes), and moto's S3 server
# (the S3-compatible state store of the sharded-run tests, bound to 127.0.0.1).
# Prints the venv's python. Location: $FERRY_VENV or ~/.cache/ferry-venv.
set -euo pipefail
venv=${FERRY_VENV:-$HOME/.cache/ferry-venv}
stamp="$venv/.ferry-ok-4"
if [ ! -f "$stamp" ]; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install -q --disable-pip-version-check pyodps pyarrow pandas pytest zstandard lz4 python-snappy kubernetes-validate "moto[server]" >&2
  touch "$stamp"
fi
echo "$venv/bin/python"
