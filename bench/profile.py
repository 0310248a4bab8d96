#!/usr/bin/env python3
"""Format bench/profile.sh's whole-machine profiles as bench/PROFILE.md.

Input: a TSV of runs (leg, tool, wall seconds, gzipped `perf script -F pid,tid,comm,ip,sym,dso`
output of a `perf record -a -e cpu-clock -F FREQ` taken around the run). Every sample is
1/FREQ CPU-seconds of one core; samples are grouped by process (PostgreSQL backends, the
client, idle), by kernel or user space, and by symbol, and the client's symbols also by
crate or library ("where the time goes").
"""
import argparse
import collections
import gzip
import re

LINE = re.compile(r"^\s*(?P<comm>\S.*?)\s+(?P<pid>-?\d+)/(?P<tid>-?\d+)\s+(?P<ip>[0-9a-f]+)\s+(?P<sym>.*?)\s*\((?P<dso>[^()]*)\)\s*$")
HASH = re.compile(r"::h[0-9a-f]{16}$")


LOADER = {"NextCopyFrom", "CopyFrom", "CopyMultiInsertBufferFlush", "heap_multi_insert", "CopyReadBinaryAttribute"}
READER = {"SendFunctionCall", "pq_begintypsend", "CopyOneRowTo", "CopySendEndOfRow"}


def role(comms, syms):
    """The kind of process a pid is, from the names of its threads and what it ran."""
    if "swapper" in comms:
        return "idle"
    if "postgres" in comms:
        if syms & LOADER:
            return "PostgreSQL: loading backend (COPY FROM)"
        if syms & READER:
            return "PostgreSQL: reading backend (COPY TO)"
        return "PostgreSQL: other processes (WAL writer, checkpointer, ...)"
    if "psql" in comms:
        return "psql"
    if any(c.startswith("python") for c in comms):
        return "DuckDB (in Python)"
    if "ferry" in comms or any(c.startswith("tokio-") or c.startswith("ferry") for c in comms):
        return "ferry"
    if "perf" in comms:
        return "perf (the profiler)"
    return "other"


def area(sym, dso):
    """Which crate or library a symbol belongs to."""
    if "kernel" in dso:
        return "kernel"
    if sym in ("", "[unknown]"):
        return "[unknown] in " + dso.rsplit("/", 1)[-1]
    if re.match(r"(ZSTD|HUF|FSE|ZSTDMT|HIST)_", sym):
        return "zstd (C)"
    if "libc" in dso or "ld-linux" in dso:
        return "libc (" + ("memcpy/memmove" if "mem" in sym else "other") + ")"
    s = sym.lstrip("<&*([ ")
    for pre in ("mut ", "dyn ", "impl ", "const "):
        if s.startswith(pre):
            s = s[len(pre):]
    head = re.split(r"::|<| as ", s, maxsplit=1)[0]
    if head in ("core", "alloc", "std", "hashbrown"):
        return "Rust std (core/alloc/std)"
    if "::" in s:
        return head
    return dso.rsplit("/", 1)[-1]


def short(sym, width=110):
    sym = HASH.sub("", sym)
    return sym if len(sym) <= width else sym[: width - 1] + "…"


def load(path):
    samples = []
    with gzip.open(path, "rt", errors="replace") as f:
        for line in f:
            m = LINE.match(line)
            if m:
                samples.append((int(m["pid"]), m["comm"], m["sym"], m["dso"]))
    comms, syms = collections.defaultdict(set), collections.defaultdict(set)
    for pid, comm, sym, _ in samples:
        comms[pid].add(comm)
        syms[pid].add(sym)
    roles = {pid: role(c, syms[pid]) for pid, c in comms.items()}
    return [(roles[pid], comm, sym, dso) for pid, comm, sym, dso in samples]


def table(rows, head):
    out = ["| " + " | ".join(head) + " |", "| " + " | ".join("---" if i == 0 else "---:" for i in range(len(head))) + " |"]
    out += ["| " + " | ".join(str(c).replace("|", "\\|") for c in r) + " |" for r in rows]
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("runs")
    ap.add_argument("--freq", type=float, required=True)
    ap.add_argument("--rows", type=int, required=True)
    ap.add_argument("--cores", type=int, required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--command", required=True)
    ap.add_argument("--machine", required=True)
    a = ap.parse_args()
    runs = collections.OrderedDict()
    for line in open(a.runs):
        if line.strip():
            leg, tool, wall, path = line.rstrip("\n").split("\t")
            runs.setdefault((leg, tool), []).append((float(wall), path))
    summary, detail = [], []
    for (leg, tool), reps in runs.items():
        # Several runs of one leg: CPU-seconds are their mean, the wall time their median.
        walls = sorted(w for w, _ in reps)
        wall = walls[len(walls) // 2]
        sec = 1.0 / a.freq / len(reps)
        samples = [x for _, path in reps for x in load(path)]
        by_role = collections.Counter(r for r, _, _, _ in samples)
        kern = collections.Counter(r for r, _, _, d in samples if "kernel" in d)
        pg_roles = sorted((r for r in by_role if r.startswith("PostgreSQL")), key=lambda r: -by_role[r])
        client = [r for r in by_role if r not in ("idle", "perf (the profiler)", "other") and r not in pg_roles]
        client_role = max(client, key=lambda r: by_role[r]) if client else None
        cpu = lambda r: by_role[r] * sec  # noqa: E731
        busy = sum(n for r, n in by_role.items() if r != "idle") * sec
        # An idle core takes fewer timer samples than a busy one: idle time is what the
        # cores had (cores x wall) and did not use.
        idle = max(0.0, a.cores * wall - busy)
        summary.append([leg, tool, f"{wall:.2f}", f"{sum(cpu(r) for r in pg_roles):.2f}",
                        f"{cpu(client_role):.2f}" if client_role else "–", f"{busy:.2f}",
                        f"{idle:.2f}"])
        runs_note = f" (median of {len(reps)} runs: {', '.join(f'{w:.2f}' for w, _ in reps)} s)" if len(reps) > 1 else ""
        detail.append(f"\n### {leg}: {tool} — {wall:.2f} s wall{runs_note}\n")
        rows = []
        for r, n in by_role.most_common():
            if r != "idle":
                rows.append([r, f"{n * sec:.2f}", f"{kern[r] * sec:.2f}", f"{100.0 * n * sec / (a.cores * wall):.0f}%"])
        rows.append(["idle (cores × wall − busy)", f"{idle:.2f}", "–", f"{100.0 * idle / (a.cores * wall):.0f}%"])
        detail += table(rows, ["process", "CPU-s", "of which kernel", f"share of {a.cores} cores × wall"])
        for who in ([client_role] if client_role else []) + [r for r in pg_roles if "other" not in r]:
            mine = [(c, s, d) for r, c, s, d in samples if r == who]
            if not mine:
                continue
            total = len(mine)
            if who == client_role:
                areas = collections.Counter(area(s, d) for _, s, d in mine)
                detail.append(f"\n{who}, by crate or library ({total * sec:.2f} CPU-s):\n")
                detail += table([[k, f"{v * sec:.2f}", f"{100.0 * v / total:.0f}%"] for k, v in areas.most_common(10)],
                                ["crate / library", "CPU-s", "share"])
            syms = collections.Counter((short(s) or "[unknown]", d.rsplit("/", 1)[-1]) for _, s, d in mine)
            detail.append(f"\n{who}, top symbols:\n")
            detail += table([[f"`{s}`", d, f"{100.0 * v / total:.1f}%"] for (s, d), v in syms.most_common(12)],
                            ["symbol", "in", "share"])
    out = [
        "# Where the CPU goes",
        "",
        f"Generated by `{a.command}`: {a.rows:,} `person` rows, {a.machine}; the server as users",
        "run one (`fsync` on, `max_prepared_transactions = 0`), PostgreSQL targets a logged table",
        f"with a primary key. Each run profiled with `perf record -a -e cpu-clock` (every",
        f"process on the machine, kernel included, {a.freq:.0f} samples per second per core), so a",
        "CPU-second here is samples / frequency; `idle` is cores × wall time − busy CPU-seconds.",
        "",
    ]
    out += table(summary, ["leg", "tool", "wall s", "PostgreSQL CPU-s", "client CPU-s", "busy CPU-s", "idle CPU-s"])
    out += ["", "## Each run"]
    out += detail
    with open(a.out, "w") as f:
        f.write("\n".join(out) + "\n")


if __name__ == "__main__":
    main()
