#!/usr/bin/env python3
"""The project bench's measurements outside ferry's own binary, one JSON line per leg.

Three commands, each printing records of the form
  {"shape", "leg", "tool", "channels", "rows", "mb", "secs": [...], "secs_min",
   "secs_median", "peak_rss_mb", "note", "error"}
where leg is one of pg-null, pg-pg, pg-parquet, parquet-pg, pg-odps, odps-pg.

  peers.py ferry --shape person --leg pg-pg [--tool LABEL] -- FERRY bench ... --json
      runs `ferry bench` and converts its rows (ferry's own rows and its in-process COPY
      baselines); ferry measures its own peak RSS (VmHWM, reset per run).
  peers.py psql --shape person --pg-url URL --table public.person [--repeat 3]
      the physical baselines with the real psql binary: binary COPY out to /dev/null,
      COPY in from a file, and the `psql | psql` pipe.
  peers.py peers --shape person --pg-url URL --table public.person --parquet-in DIR
                 [--odps-endpoint URL --odps-table T] [--repeat 3] [--work DIR]
      ConnectorX + pyarrow, ADBC PostgreSQL + pyarrow, DuckDB's postgres extension, Sling,
      pyodps with pandas. A peer that cannot run (offline, missing) prints an "error" record.

Every measured run is a child process; its peak RSS is the child's ru_maxrss from wait4
(for a pipeline: the largest process in it), its time the wall clock around the transfer
(measured inside the child for Python peers, so interpreter start-up is not counted).
"""

import argparse
import glob
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ME = os.path.abspath(__file__)
# The machine's 1-minute load when this measurement group started (bench/run.sh lets it
# settle first): report.py refuses a target verdict for a leg measured on a busy machine.
LOAD_BEFORE = round(os.getloadavg()[0], 2)


def emit(rec):
    print(json.dumps(rec), flush=True)


def record(shape, leg, tool, channels, rows=None, mb=None, secs=(), rss=None, note=None, error=None):
    secs = list(secs)
    return {
        "shape": shape,
        "leg": leg,
        "tool": tool,
        "channels": channels,
        "rows": rows,
        "mb": mb,
        "secs": secs,
        "secs_min": min(secs) if secs else None,
        "secs_median": statistics.median(secs) if secs else None,
        "peak_rss_mb": rss,
        "note": note,
        "error": error,
        "load_before": LOAD_BEFORE,
    }


def run_measured(argv, env=None, shell=False, timeout=3600):
    """Run argv as a child; returns (wall secs, peak RSS MiB, stdout, stderr, exit code)."""
    out = tempfile.TemporaryFile()
    err = tempfile.TemporaryFile()
    start = time.perf_counter()
    p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, shell=shell)
    deadline = start + timeout
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() > deadline:
            p.kill()
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.005)
    secs = time.perf_counter() - start
    p.returncode = os.waitstatus_to_exitcode(status)
    out.seek(0)
    err.seek(0)
    return secs, ru.ru_maxrss / 1024.0, out.read().decode(errors="replace"), err.read().decode(errors="replace"), p.returncode


# ---------------------------------------------------------------- ferry


def cmd_ferry(a):
    argv = a.argv[1:] if a.argv and a.argv[0] == "--" else a.argv
    secs, _, out, err, code = run_measured(argv)
    if code != 0:
        emit(record(a.shape, a.leg, a.tool, None, error=f"exit {code}: {err.strip()[-600:]}"))
        return
    for r in json.loads(out):
        leg_name = r["leg"]
        if leg_name.startswith("ferry "):
            tool, ch = a.tool, r["channels"]
        elif leg_name.startswith("pipe:"):
            tool, ch = "in-process COPY pipe", 1
        elif "COPY TO" in leg_name:
            tool, ch = "in-process COPY out", 1
        else:
            tool, ch = "in-process COPY in", 1
        # ferry reports the fastest and the median; rebuild a secs list with both.
        rec = record(a.shape, a.leg, tool, ch, rows=r["rows"], mb=r["mb"], rss=r.get("peak_rss_mb"))
        rec["secs_min"] = r["secs"]
        rec["secs_median"] = r["secs_median"]
        rec["runs"] = r["runs"]
        if tool == a.tool:
            shares = [r.get(k) for k in ("read_share", "transform_share", "write_share")]
            if None not in shares:
                rec["note"] = "read/xform/write %.0f/%.0f/%.0f%%" % tuple(100 * s for s in shares)
        emit(rec)


# ---------------------------------------------------------------- psql


def psql(url, sql):
    return ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", url, "-c", sql]


def count_rows(url, t):
    return int(subprocess.run(["psql", "-X", url, "-tAc", f"SELECT count(*) FROM {t}"],
                              check=True, capture_output=True, text=True).stdout.strip())


def psql_run(url, sql):
    env = dict(os.environ, PGOPTIONS="-c client_min_messages=warning")
    subprocess.run(psql(url, sql), check=True, stdout=subprocess.DEVNULL, env=env)


def q(s):
    return "'" + s.replace("'", "'\"'\"'") + "'"


def create_target(url, target, like, pk):
    """An empty target like `like`: UNLOGGED without keys, or (pk) logged with that primary key."""
    if pk:
        psql_run(url, f"DROP TABLE IF EXISTS {target}; CREATE TABLE {target} (LIKE {like} INCLUDING DEFAULTS); "
                      f"ALTER TABLE {target} ADD PRIMARY KEY ({pk})")
    else:
        psql_run(url, f"DROP TABLE IF EXISTS {target}; CREATE UNLOGGED TABLE {target} (LIKE {like} INCLUDING DEFAULTS)")


def cmd_psql(a):
    if shutil.which("psql") is None:
        for leg in ("pg-null", "pg-pg", "parquet-pg"):
            emit(record(a.shape, leg, "psql", 1, error="psql is not installed"))
        return
    url, t = a.pg_url, a.table
    rows = count_rows(url, t)
    scratch = t + "_psql_bench"
    work = tempfile.mkdtemp(prefix="ferry-psql-", dir=a.work)
    spool = os.path.join(work, "copy.bin")
    out_sql = f"COPY {t} TO STDOUT (FORMAT binary)"
    in_sql = f"COPY {scratch} FROM STDIN (FORMAT binary)"
    try:
        with open(spool, "wb") as f:
            subprocess.run(psql(url, out_sql), check=True, stdout=f)
        mb = os.path.getsize(spool) / 1048576.0
        create_target(url, scratch, t, a.target_pk)
        legs = [
            ("pg-null", "psql COPY TO STDOUT > /dev/null", None,
             " ".join(map(q, psql(url, out_sql))) + " > /dev/null"),
            ("parquet-pg", "psql COPY FROM STDIN < file", f"TRUNCATE {scratch}",
             " ".join(map(q, psql(url, in_sql))) + " < " + q(spool)),
            ("pg-pg", "psql | psql", f"TRUNCATE {scratch}",
             " ".join(map(q, psql(url, out_sql))) + " | " + " ".join(map(q, psql(url, in_sql)))),
        ]
        if a.legs:
            legs = [x for x in legs if x[0] in a.legs.split(",")]
        for leg, tool, before, line in legs:
            secs, rss = [], 0.0
            error = None
            for _ in range(a.repeat):
                if before:
                    psql_run(url, before)
                s, r, _, err, code = run_measured(["bash", "-o", "pipefail", "-c", line])
                if code != 0:
                    error = f"exit {code}: {err.strip()[-400:]}"
                    break
                secs.append(s)
                rss = max(rss, r)
            note = "same bytes as COPY TO wrote" if leg == "parquet-pg" else None
            emit(record(a.shape, leg, tool, 1, rows=rows, mb=mb, secs=secs, rss=rss, note=note, error=error))
            if leg == "pg-null" and not error:
                # COPY out is also the read limit of the legs that read PostgreSQL.
                for other in ("pg-parquet", "pg-odps"):
                    emit(record(a.shape, other, tool, 1, rows=rows, mb=mb, secs=secs, rss=rss))
            if leg == "parquet-pg" and not error:
                emit(record(a.shape, "odps-pg", tool, 1, rows=rows, mb=mb, secs=secs, rss=rss))
    finally:
        psql_run(url, f"DROP TABLE IF EXISTS {scratch}")
        shutil.rmtree(work, ignore_errors=True)


# ---------------------------------------------------------------- peers (child side)


def duckdb_connect(threads):
    import duckdb
    import duckdb_extension_postgres as ext

    src = glob.glob(os.path.join(os.path.dirname(ext.__file__), "extensions", "*", "postgres.duckdb_extension"))
    if not src:
        raise RuntimeError("duckdb-extension-postgres ships no postgres.duckdb_extension")
    d = tempfile.mkdtemp(prefix="ferry-duckdb-ext-")
    # The extension's entry point is named after postgres_scanner; DuckDB verifies its signature.
    path = os.path.join(d, "postgres_scanner.duckdb_extension")
    shutil.copy(src[0], path)
    con = duckdb.connect()
    con.execute(f"SET threads = {int(threads)}")
    con.execute(f"LOAD '{path}'")
    return con


def pg_table_parts(t):
    return t.split(".", 1) if "." in t else ("public", t)


def parquet_files(d):
    files = sorted(glob.glob(os.path.join(d, "**", "*.parquet"), recursive=True))
    if not files:
        raise RuntimeError(f"no Parquet files under {d}")
    return files


def child(a):
    """Run one transfer in this process and print {"rows", "secs"}."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    t0 = time.perf_counter()
    rows = 0
    tool, leg, ch = a.tool, a.leg, a.channels
    if tool == "connectorx" and leg == "pg-parquet":
        import connectorx as cx

        kw = {"partition_on": "id", "partition_num": ch} if ch > 1 else {}
        tbl = cx.read_sql(a.pg_url, f"SELECT * FROM {a.table}", return_type="arrow", **kw)
        if not isinstance(tbl, pa.Table):  # connectorx >= 0.4 may hand back a RecordBatchReader
            tbl = tbl.read_all()
        pq.write_table(tbl, a.out, compression="zstd")
        rows = tbl.num_rows
    elif tool == "adbc" and leg == "pg-parquet":
        import adbc_driver_postgresql.dbapi as pgdb

        with pgdb.connect(a.pg_url) as conn, conn.cursor() as cur:
            cur.execute(f"SELECT * FROM {a.table}")
            rdr = cur.fetch_record_batch()
            with pq.ParquetWriter(a.out, rdr.schema, compression="zstd") as w:
                for b in rdr:
                    w.write_batch(b)
                    rows += b.num_rows
    elif tool == "adbc" and leg == "parquet-pg":
        import adbc_driver_postgresql.dbapi as pgdb
        import pyarrow.dataset as ds

        rdr = ds.dataset(parquet_files(a.parquet_in), format="parquet").scanner().to_reader()
        schema, name = pg_table_parts(a.scratch)
        with pgdb.connect(a.pg_url) as conn, conn.cursor() as cur:
            rows = cur.adbc_ingest(name, rdr, mode="append", db_schema_name=schema)
            conn.commit()
    elif tool == "duckdb" and leg == "pg-parquet":
        con = duckdb_connect(ch)
        con.execute(f"ATTACH '{a.pg_url}' AS pg (TYPE postgres, READ_ONLY)")
        schema, name = pg_table_parts(a.table)
        con.execute(f"COPY (SELECT * FROM pg.{schema}.{name}) TO '{a.out}' (FORMAT parquet, COMPRESSION zstd)")
        rows = con.execute(f"SELECT count(*) FROM read_parquet('{a.out}')").fetchone()[0]
    elif tool == "duckdb" and leg == "pg-pg":
        con = duckdb_connect(ch)
        con.execute(f"ATTACH '{a.pg_url}' AS src (TYPE postgres, READ_ONLY)")
        con.execute(f"ATTACH '{a.pg_url}' AS pg (TYPE postgres)")
        s_schema, s_name = pg_table_parts(a.table)
        schema, name = pg_table_parts(a.scratch)
        rows = con.execute(f"INSERT INTO pg.{schema}.{name} SELECT * FROM src.{s_schema}.{s_name}").fetchone()[0]
    elif tool == "duckdb" and leg == "parquet-pg":
        con = duckdb_connect(ch)
        con.execute(f"ATTACH '{a.pg_url}' AS pg (TYPE postgres)")
        schema, name = pg_table_parts(a.scratch)
        files = ", ".join("'" + f + "'" for f in parquet_files(a.parquet_in))
        rows = con.execute(f"INSERT INTO pg.{schema}.{name} SELECT * FROM read_parquet([{files}])").fetchone()[0]
    elif tool == "pyodps" and leg == "pg-odps":
        import connectorx as cx
        from odps import ODPS

        df = cx.read_sql(a.pg_url, f"SELECT * FROM {a.table}", return_type="pandas")
        o = ODPS("ak", "sk", "bench", endpoint=a.odps_endpoint, tunnel_endpoint=a.odps_endpoint.rsplit("/api", 1)[0])
        o.write_table(a.odps_target, df, create_table=True, overwrite=True)
        rows = len(df)
    elif tool == "pyodps" and leg == "odps-pg":
        import adbc_driver_postgresql.dbapi as pgdb
        from odps import ODPS

        o = ODPS("ak", "sk", "bench", endpoint=a.odps_endpoint, tunnel_endpoint=a.odps_endpoint.rsplit("/api", 1)[0])
        df = o.get_table(a.odps_table).to_pandas()
        schema, name = pg_table_parts(a.scratch)
        with pgdb.connect(a.pg_url) as conn, conn.cursor() as cur:
            cur.adbc_ingest(name, pa.Table.from_pandas(df, preserve_index=False), mode="create", db_schema_name=schema)
            conn.commit()
        rows = len(df)
    elif tool == "sling":
        env = dict(os.environ, BENCH_PG=a.pg_url)
        if leg == "pg-parquet":
            argv = [sling_exe(), "run", "--src-conn", "BENCH_PG", "--src-stream", a.table,
                    "--tgt-object", "file://" + a.out, "--tgt-options", '{"format": "parquet"}']
        else:
            argv = [sling_exe(), "run", "--src-stream", "file://" + a.parquet_in + "/",
                    "--src-options", '{"format": "parquet"}', "--tgt-conn", "BENCH_PG",
                    "--tgt-object", a.scratch, "--mode", "full-refresh"]
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        rows = -1
    else:
        raise SystemExit(f"unknown peer leg {tool} {leg}")
    print(json.dumps({"rows": int(rows), "secs": time.perf_counter() - t0}))


# ---------------------------------------------------------------- peers (parent side)


def sling_exe():
    exe = os.environ.get("SLING_BINARY")
    if exe and os.path.exists(exe):
        return exe
    venv_exe = os.path.join(os.path.dirname(sys.executable), "sling")
    return venv_exe if os.path.exists(venv_exe) else shutil.which("sling")


def sling_offline_reason():
    """Why Sling cannot run here, or None. Its wheel fetches the binary from GitHub at first use."""
    exe = sling_exe()
    if exe is None:
        return "sling is not installed"
    try:
        p = subprocess.run([exe, "--version"], capture_output=True, text=True, timeout=120)
    except subprocess.TimeoutExpired:
        return "cannot run offline: `sling --version` timed out fetching its binary"
    if p.returncode != 0:
        tail = (p.stderr or p.stdout).strip().splitlines()[-1:] or ["?"]
        return "cannot run offline: the sling wheel downloads its binary from GitHub at first use (" + tail[0][:200] + ")"
    return None


def duckdb_offline_reason():
    try:
        duckdb_connect(1)
        return None
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        return f"cannot load DuckDB's postgres extension offline: {type(e).__name__}: {str(e)[:300]}"


def cmd_peers(a):
    work = tempfile.mkdtemp(prefix="ferry-peers-", dir=a.work)
    url, t = a.pg_url, a.table
    scratch = t + "_peer_bench"
    rows_src = count_rows(url, t)
    plan = [
        ("connectorx", "pg-parquet", 1), ("connectorx", "pg-parquet", 2),
        ("adbc", "pg-parquet", 1),
        ("duckdb", "pg-parquet", 1), ("duckdb", "pg-parquet", 2),
        ("sling", "pg-parquet", 1),
        ("duckdb", "pg-pg", 2),
        ("adbc", "parquet-pg", 1),
        ("duckdb", "parquet-pg", 1), ("duckdb", "parquet-pg", 2),
        ("sling", "parquet-pg", 1),
    ]
    if a.odps_endpoint:
        plan += [("pyodps", "pg-odps", 1), ("pyodps", "odps-pg", 1)]
    if a.only:
        keep = set(a.only.split(","))
        plan = [p for p in plan if p[0] in keep]
    if a.legs:
        keep = set(a.legs.split(","))
        plan = [p for p in plan if p[1] in keep]
    unavailable = {}
    if any(p[0] == "sling" for p in plan):
        unavailable["sling"] = sling_offline_reason()
    if any(p[0] == "duckdb" for p in plan):
        unavailable["duckdb"] = duckdb_offline_reason()
    try:
        for tool, leg, ch in plan:
            if unavailable.get(tool):
                emit(record(a.shape, leg, tool, ch, error=unavailable[tool]))
                continue
            out = os.path.join(work, f"{tool}-{ch}.parquet")
            target = scratch
            if leg == "odps-pg":
                target = t + "_pyodps_back"
            secs, rss, error, rows = [], 0.0, None, None
            for _ in range(a.repeat):
                # Untimed preparation: an empty target like the one ferry writes into.
                if leg in ("parquet-pg", "pg-pg"):
                    create_target(url, target, t, a.target_pk)
                if leg == "odps-pg":
                    psql_run(url, f"DROP TABLE IF EXISTS {target}")
                if os.path.exists(out):
                    os.remove(out)
                argv = [sys.executable, ME, "child", "--tool", tool, "--leg", leg, "--channels", str(ch),
                        "--pg-url", url, "--table", t, "--scratch", target, "--out", out,
                        "--parquet-in", a.parquet_in or "", "--odps-endpoint", a.odps_endpoint or "",
                        "--odps-table", a.odps_table or "", "--odps-target", t.split(".")[-1] + "_pyodps"]
                _, r, so, se, code = run_measured(argv)
                if code != 0:
                    error = f"exit {code}: {se.strip()[-500:]}"
                    break
                res = json.loads(so.strip().splitlines()[-1])
                secs.append(res["secs"])
                rss = max(rss, r)
                rows = res["rows"] if res["rows"] >= 0 else rows_src
            if leg in ("parquet-pg", "pg-pg", "odps-pg"):
                psql_run(url, f"DROP TABLE IF EXISTS {target}")
            note = None
            if tool == "duckdb":
                note = f"SET threads = {ch}"
            elif tool == "connectorx" and ch > 1:
                note = f"partition_on id, {ch} partitions"
            elif tool == "pyodps":
                note = ("connectorx -> pandas -> o.write_table" if leg == "pg-odps"
                        else "table.to_pandas() -> ADBC adbc_ingest")
            emit(record(a.shape, leg, tool, ch, rows=rows, secs=secs, rss=rss if secs else None,
                        note=note, error=error))
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("ferry")
    f.add_argument("--shape", required=True)
    f.add_argument("--leg", required=True)
    f.add_argument("--tool", default="ferry", help="label of ferry's rows (a variant, e.g. 'ferry (arrow tunnel)')")
    f.add_argument("argv", nargs=argparse.REMAINDER)
    for name in ("psql", "peers"):
        p = sub.add_parser(name)
        p.add_argument("--shape", required=True)
        p.add_argument("--pg-url", required=True)
        p.add_argument("--table", required=True)
        p.add_argument("--repeat", type=int, default=3)
        p.add_argument("--work", default=None)
        p.add_argument("--target-pk", default=None, help="PostgreSQL targets are logged tables with this primary key")
        p.add_argument("--legs", default=None, help="comma-separated legs to run")
        if name == "peers":
            p.add_argument("--parquet-in")
            p.add_argument("--odps-endpoint")
            p.add_argument("--odps-table")
            p.add_argument("--only", help="comma-separated tools to run")
    c = sub.add_parser("child")
    for k in ("--tool", "--leg", "--pg-url", "--table", "--scratch", "--out", "--parquet-in",
              "--odps-endpoint", "--odps-table", "--odps-target"):
        c.add_argument(k)
    c.add_argument("--channels", type=int, default=1)
    a = ap.parse_args()
    {"ferry": cmd_ferry, "psql": cmd_psql, "peers": cmd_peers, "child": child}[a.cmd](a)


if __name__ == "__main__":
    main()
