#!/usr/bin/env python3
"""bench/concurrency_report.py -- results.md and the TPS plot of one
bench/concurrency.sh result dir.

Usage: python3 bench/concurrency_report.py RESULT_DIR

Reads RESULT_DIR/{meta.tsv,raw.tsv,notes.txt}, which bench/concurrency.sh
writes, and writes RESULT_DIR/results.md and concurrency_tps.png (TPS
against clients, one panel per mix, through gnuplot).  Per mix, client
count and index: the median TPS of the runs; for a memkv variant, the
median over its pairs of (memkv run's TPS / the btree run's TPS of the
same pair), the two runs measured back to back.  Standard library only.
"""

import os
import statistics
import subprocess
import sys
from collections import defaultdict

MIX_TITLE = {
    "mixed": "mixed: 60% point lookups, 25% single-row inserts, "
             "15% k >= key ORDER BY k LIMIT 20",
    "read": "read-only: 80% point lookups, 20% k >= key ORDER BY k LIMIT 20",
    "insert": "insert-only: single-row inserts of new keys",
}
META_ROWS = [
    ("date", "date"),
    ("command", "command"),
    ("machine", "machine"),
    ("load average at start / end (1, 5, 15 min)", None),
    ("PostgreSQL", "postgres"),
    ("memkv commit", "memkv_commit"),
    ("keys", "keys"),
    ("average key (bytes)", "avg_key_bytes"),
    ("seconds per run", "duration"),
    ("runs per index, mix and client count", "reps"),
    ("pgbench", "pgbench"),
    ("server settings", "server_settings"),
    ("memkv settings", "memkv_settings"),
    ("memkv indexes", "memkv_variants"),
    ("stripes (M2)", "stripes"),
    ("rows inserted before each run with inserts (--prefill)", "prefill"),
]


def num(v):
    try:
        return float(v)
    except ValueError:
        return None


def fmt(v, digits=None):
    if v is None:
        return "-"
    if digits is not None:
        return f"{v:.{digits}f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def median(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


class Results:
    def __init__(self, outdir):
        self.outdir = os.path.abspath(outdir)
        self.meta = {}
        with open(os.path.join(self.outdir, "meta.tsv"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                self.meta[k] = v
        self.runs = []
        with open(os.path.join(self.outdir, "raw.tsv"), encoding="utf-8") as f:
            header = f.readline().rstrip("\n").split("\t")
            for line in f:
                row = dict(zip(header, line.rstrip("\n").split("\t")))
                row["clients"] = int(row["clients"])
                for k in ("tps", "p50_ms", "p99_ms", "load1"):
                    row[k] = num(row.get(k, "-"))
                self.runs.append(row)
        notes = os.path.join(self.outdir, "notes.txt")
        self.notes = [n for n in open(notes, encoding="utf-8").read().split("\n")
                      if n] if os.path.exists(notes) else []
        self.mixes = [m for m in self.meta.get("mixes", "").split(",") if m]
        self.clients = sorted({r["clients"] for r in self.runs})
        kinds = ["btree"] + self.meta.get("variants", "memkv").split()
        self.kinds = [k for k in kinds if any(r["kind"] == k for r in self.runs)]

    def cell(self, mix, clients, kind):
        return [r for r in self.runs
                if r["mix"] == mix and r["clients"] == clients and r["kind"] == kind]

    def ratio(self, mix, clients, kind):
        """Median over the pairs of kind's TPS / btree's TPS."""
        ratios = []
        for r in self.cell(mix, clients, kind):
            mate = [b for b in self.cell(mix, clients, "btree")
                    if b["pair"] == r["pair"]]
            if mate and r["tps"] and mate[0]["tps"]:
                ratios.append(r["tps"] / mate[0]["tps"])
        return median(ratios), ratios


def write_md(res):
    m = res.meta
    out = ["# memkv and btree from 1 to many clients (bench/concurrency.sh)", ""]
    out += ["| | |", "|---|---|"]
    for label, key in META_ROWS:
        if key is None:
            val = f"{m.get('load_start', '?')} / {m.get('load_end', '?')}"
        else:
            val = m.get(key, "")
        if key == "command":
            val = f"`{val}`"
        out.append(f"| {label} | {val} |")
    out += ["", "Each row: the median of the runs; **memkv/btree** is the median "
            "over the pairs of a memkv run's TPS divided by the TPS of the "
            "btree run measured right before or after it (higher is better "
            "for memkv), with every pair's ratio in brackets when there are "
            "several. p50/p99: latency of all transactions of the mix "
            "(a 20% sample), in ms. Load: the 1-minute load average after "
            "the run (the clients and pgbench alone make about "
            "min(clients, cores) of it). Freezes: memkv_state().freezes of "
            "the index at the end of the run (built just before it).", "",
            "![TPS against clients](concurrency_tps.png)", ""]
    for mix in res.mixes:
        out += [f"## {MIX_TITLE.get(mix, mix)}", ""]
        out.append("| clients | index | TPS | memkv/btree | p50 (ms) | p99 (ms) "
                   "| load | freezes |")
        out.append("|---:|---|---:|---:|---:|---:|---:|---:|")
        for c in res.clients:
            for kind in res.kinds:
                runs = res.cell(mix, c, kind)
                if not runs:
                    continue
                tps = median([r["tps"] for r in runs])
                if kind == "btree":
                    ratio = ""
                else:
                    med, ratios = res.ratio(mix, c, kind)
                    ratio = f"**{fmt(med, 2)}**" if med is not None else "-"
                    if len(ratios) > 1:
                        ratio += " (" + ", ".join(fmt(x, 2) for x in ratios) + ")"
                failed = sum(1 for r in runs if r["tps"] is None)
                tps_s = fmt(tps) + (f" ({failed} failed)" if failed else "")
                freezes = ", ".join(r.get("freezes", "-") for r in runs) \
                    if kind != "btree" else ""
                out.append(
                    f"| {c} | {kind} | {tps_s} | {ratio} "
                    f"| {fmt(median([r['p50_ms'] for r in runs]), 3)} "
                    f"| {fmt(median([r['p99_ms'] for r in runs]), 2)} "
                    f"| {fmt(median([r['load1'] for r in runs]), 1)} | {freezes} |")
        out.append("")
    out += ["## Notes", ""]
    out += [f"- {n}" for n in res.notes] or ["- none: every run finished."]
    out.append("")
    with open(os.path.join(res.outdir, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def plot(res):
    """One panel per mix: median TPS against clients (log x), each index."""
    data = os.path.join(res.outdir, "concurrency_tps.dat")
    blocks = defaultdict(list)      # mix -> [(data block index, kind)]
    with open(data, "w", encoding="utf-8") as f:
        index = 0
        for mix in res.mixes:
            for kind in res.kinds:
                points = [(c, median([r["tps"] for r in res.cell(mix, c, kind)]))
                          for c in res.clients]
                points = [(c, t) for c, t in points if t is not None]
                if not points:
                    continue
                f.write(f"# {mix} {kind}\n")
                f.writelines(f"{c} {t:.1f}\n" for c, t in points)
                f.write("\n\n")
                blocks[mix].append((index, kind))
                index += 1
    n = max(len(res.mixes), 1)
    xt = ", ".join(f'"{c}" {c}' for c in res.clients)
    gp = [f'set terminal pngcairo size {420 * n},440 font ",10" noenhanced',
          'set output "concurrency_tps.png"',
          f'set multiplot layout 1,{n} title "TPS against clients: memkv and '
          f'btree, {res.meta.get("keys", "?")} Debian paths ({res.meta.get("date", "")})"',
          "set logscale x 2", f"set xtics ({xt})", "set grid",
          "set ylabel \"TPS\"", "set yrange [0:*]",
          "set key below", f"set xrange [{min(res.clients or [1]) / 1.4}:"
          f"{max(res.clients or [1]) * 1.4}]"]
    for mix in res.mixes:
        gp.append(f'set title "{mix}: TPS against clients"')
        parts = [f'"concurrency_tps.dat" index {i} using 1:2 '
                 f'with linespoints lw 2 pt 7 title "{kind}"'
                 for i, kind in blocks[mix]]
        if parts:
            gp.append("plot " + ", \\\n     ".join(parts))
    gp.append("unset multiplot")
    path = os.path.join(res.outdir, "concurrency_tps.gp")
    with open(path, "w", encoding="utf-8") as f:
        f.write("\n".join(gp) + "\n")
    subprocess.run(["gnuplot", path], check=True, cwd=res.outdir)


def main():
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    res = Results(sys.argv[1])
    write_md(res)
    plot(res)


if __name__ == "__main__":
    main()
