#!/usr/bin/env python3
"""bench/ingest_report.py -- results.md and the plot of one bench/ingest.sh
result dir.

Usage: python3 bench/ingest_report.py RESULT_DIR

Reads RESULT_DIR/{meta.tsv,summary.tsv,samples.tsv,queries.tsv,notes.txt},
which bench/ingest.sh writes, and writes RESULT_DIR/results.md (the summary
table memkv against btree, then each variant's samples) and ingest.png
(runs, rows inserted, point and range TPS against time, one line per
variant, through gnuplot).  Standard library only.
"""

import os
import subprocess
import sys
from collections import defaultdict

META_ROWS = [
    ("date", "date"),
    ("command", "command"),
    ("machine", "machine"),
    ("load average at start / end (1, 5, 15 min)", None),
    ("PostgreSQL", "postgres"),
    ("memkv commit", "memkv_commit"),
    ("keys loaded before the ingest", "keys"),
    ("average key (bytes)", "avg_key_bytes"),
    ("rows inserted per variant", "inserts"),
    ("clients", "clients"),
    ("pgbench", "pgbench"),
    ("sample interval (s)", "sample"),
    ("baseline query run (s)", "baseline"),
    ("server settings", "server_settings"),
    ("memkv settings", "memkv_settings"),
    ("memkv indexes", "memkv_variants"),
]


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(v, digits=None):
    if v is None:
        return "-"
    if digits is not None:
        return f"{v:,.{digits}f}"
    return f"{v:,.0f}" if abs(v) >= 100 else f"{v:.1f}"


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "-"
    return f"{a / b:.{digits}f}"


def read_tsv(path):
    rows = []
    if not os.path.exists(path):
        return rows
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\n").split("\t")
        for line in f:
            if line.strip():
                rows.append(dict(zip(header, line.rstrip("\n").split("\t"))))
    return rows


class Results:
    def __init__(self, outdir):
        self.outdir = os.path.abspath(outdir)
        self.meta = {}
        with open(os.path.join(self.outdir, "meta.tsv"), encoding="utf-8") as f:
            for line in f:
                k, _, v = line.rstrip("\n").partition("\t")
                self.meta[k] = v
        self.summary = read_tsv(os.path.join(self.outdir, "summary.tsv"))
        self.samples = defaultdict(list)
        for r in read_tsv(os.path.join(self.outdir, "samples.tsv")):
            self.samples[r["variant"]].append(r)
        self.queries = defaultdict(list)   # (variant, query) -> [(t, tps)]
        for r in read_tsv(os.path.join(self.outdir, "queries.tsv")):
            if r["phase"] != "ingest":
                continue
            self.queries[(r["variant"], r["query"])].append(
                (num(r["t"]), num(r["tps"])))
        notes = os.path.join(self.outdir, "notes.txt")
        self.notes = [n for n in open(notes, encoding="utf-8").read().split("\n")
                      if n] if os.path.exists(notes) else []
        self.variants = [s["variant"] for s in self.summary]


def summary_rows(res):
    """The summary table: one column per variant, memkv's ratio to btree."""
    by = {s["variant"]: s for s in res.summary}
    bt = by.get("btree")

    def val(s, key):
        return num(s.get(key)) if s else None

    def per(s, key, den):
        a, b = val(s, key), val(s, den)
        return a / b if a is not None and b else None

    # (label, function of a summary row -> number, digits, ratio shown)
    rows = [
        ("rows inserted", lambda s: val(s, "rows"), 0, False),
        ("inserted key bytes (average B/key)",
         lambda s: per(s, "key_bytes", "rows"), 1, False),
        ("ingest time (s)", lambda s: val(s, "elapsed_s"), 1, True),
        ("insert rate (rows/s)", lambda s: per(s, "rows", "elapsed_s"), 0, True),
        ("WAL per inserted row, all (B)", lambda s: per(s, "wal_total", "rows"), 0, True),
        ("WAL per inserted row, table's: Heap, Heap2, Transaction (B)",
         lambda s: per(s, "wal_table", "rows"), 0, True),
        ("WAL per inserted row, the rest: index's, checkpoints' (B)",
         lambda s: per(s, "wal_rest", "rows"), 0, True),
        ("of all WAL: full-page images (B per row)",
         lambda s: per(s, "wal_fpi_bytes", "rows"), 0, True),
        ("full-page images (pg_stat_wal.wal_fpi)", lambda s: val(s, "fpi_count"), 0, True),
        ("write amplification: all WAL / inserted key bytes",
         lambda s: per(s, "wal_total", "key_bytes"), 2, True),
        ("write amplification: index WAL (the rest) / inserted key bytes",
         lambda s: per(s, "wal_rest", "key_bytes"), 2, True),
        ("index size before (MB)", lambda s: (val(s, "index_before") or 0) / 1048576, 1, True),
        ("index size after (MB)", lambda s: (val(s, "index_after") or 0) / 1048576, 1, True),
        ("index growth / inserted key bytes",
         lambda s: (val(s, "index_after") - val(s, "index_before")) / val(s, "key_bytes")
         if val(s, "key_bytes") else None, 2, True),
        ("index size after (B/key)", lambda s: per(s, "index_after", "table_rows"), 1, True),
        ("point lookups alone (TPS)", lambda s: val(s, "base_point_tps"), 0, True),
        ("point lookups during the ingest (TPS)", lambda s: val(s, "point_tps"), 0, True),
        ("range LIMIT 20 alone (TPS)", lambda s: val(s, "base_range_tps"), 0, True),
        ("range LIMIT 20 during the ingest (TPS)", lambda s: val(s, "range_tps"), 0, True),
    ]
    out = []
    head = "| | " + " | ".join(res.variants) + " |"
    out.append(head)
    out.append("|---|" + "---:|" * len(res.variants))
    for label, fn, digits, show_ratio in rows:
        cells = []
        for v in res.variants:
            try:
                x = fn(by[v])
            except (TypeError, ZeroDivisionError):
                x = None
            cell = fmt(x, digits)
            if show_ratio and v != "btree" and bt is not None:
                try:
                    b = fn(bt)
                except (TypeError, ZeroDivisionError):
                    b = None
                cell += f" ({ratio(x, b)}x)"
            cells.append(cell)
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    # memkv only
    for label, key, digits in (("freezes", "freezes", 0),
                               ("freeze time, total (s; with waits for a merge)", "freeze_s", 2),
                               ("merges", "merges", 0),
                               ("merge time, total (s; with waits)", "merge_s", 2),
                               ("runs at the end", "runs_end", 0)):
        cells = [fmt(num(by[v].get(key)), digits) if v != "btree" else ""
                 for v in res.variants]
        out.append(f"| {label} | " + " | ".join(cells) + " |")
    cells = []
    for v in res.variants:
        if v == "btree":
            cells.append("")
            continue
        runs = [num(r.get("runs")) for r in res.samples[v]]
        runs = [x for x in runs if x is not None]
        cells.append(fmt(max(runs), 0) if runs else "-")
    out.append("| runs, most seen in a sample | " + " | ".join(cells) + " |")
    cells = [by[v].get("run_keys_end", "") if v != "btree" else ""
             for v in res.variants]
    out.append("| keys per run at the end, newest first | " + " | ".join(cells) + " |")
    return out


def extrapolation(res):
    out = []
    for s in res.summary:
        rows, secs = num(s.get("rows")), num(s.get("elapsed_s"))
        if rows and secs:
            out.append(f"{s['variant']}: {rows / secs:,.0f} rows/s, so 20M inserts "
                       f"would take about {20e6 / (rows / secs) / 60:.0f} min")
    return out


def timeline(res, v):
    out = [f"### {v}: samples", ""]
    if v == "btree":
        out.append("| t (s) | rows | WAL (MB) | index (MB) | table (MB) |")
        out.append("|---:|---:|---:|---:|---:|")
    else:
        out.append("| t (s) | rows | WAL (MB) | index (MB) | table (MB) | runs "
                   "| keys per run | delta TIDs | frozen TIDs | freezes | merges "
                   "| freeze + merge time (s) |")
        out.append("|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|")
    samples = res.samples[v]
    step = max(1, len(samples) // 25)     # at most ~25 rows per variant
    shown = samples[::step]
    if samples and shown[-1] is not samples[-1]:
        shown.append(samples[-1])
    for r in shown:
        mb = [fmt((num(r.get(k)) or 0) / 1048576, 1)
              for k in ("wal_bytes", "index_bytes", "table_bytes")]
        base = f"| {r['t']} | {fmt(num(r['rows']), 0)} | " + " | ".join(mb)
        if v == "btree":
            out.append(base + " |")
        else:
            out.append(base + f" | {r['runs']} | {r['run_keys']} | "
                       f"{fmt(num(r['delta_tids']), 0)} | {fmt(num(r['frozen_tids']), 0)} "
                       f"| {r['freezes']} | {r['merges']} | {r['layer_op_s']} |")
    out.append("")
    return out


def write_md(res):
    m = res.meta
    out = ["# Sustained ingest: memkv with the background worker against btree "
           "(bench/ingest.sh)", ""]
    out += ["| | |", "|---|---|"]
    for label, key in META_ROWS:
        if key is None:
            val = f"{m.get('load_start', '?')} / {m.get('load_end', '?')}"
        else:
            val = m.get(key, "")
        if key == "command":
            val = f"`{val}`"
        out.append(f"| {label} | {val} |")
    out += ["", "Each variant: a fresh copy of the loaded table and its index, "
            "then the ingest with the query clients running; memkv's ratio to "
            "btree in brackets (for times, WAL and sizes lower is better for "
            "memkv; for rates and TPS higher). \"Alone\": the query clients "
            "for the baseline seconds before the ingest; \"during\": the mean "
            "of pgbench's progress intervals while the inserts ran. WAL is "
            "pg_waldump --stats over the ingest's LSN range; \"the rest\" is "
            "all but the table's records (Heap, Heap2, Transaction): the "
            "index's records and full-page images, and checkpoints'. "
            "Freezes and merges: the server log's lines for the index "
            "(memkv.log_freeze_min_duration = 0); their elapsed time starts "
            "before the rewrite takes the index's metapage lock, so a freeze "
            "queued behind a merge counts its wait. Runs: the metapage's run "
            "directory (pageinspect).", "",
            "## Summary", ""]
    out += summary_rows(res)
    out += ["", "At the measured rates: " + "; ".join(extrapolation(res)) + ".", "",
            "![runs, rows and query TPS against time](ingest.png)", ""]
    for v in res.variants:
        out += timeline(res, v)
    out += ["## Notes", ""]
    out += [f"- {n}" for n in res.notes] or ["- none: every run finished."]
    out.append("")
    with open(os.path.join(res.outdir, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def plot(res):
    """2 x 2 panels against time: runs, rows inserted, point TPS, range TPS."""
    data = os.path.join(res.outdir, "ingest.dat")
    blocks = defaultdict(list)      # panel -> [(data block index, variant)]
    index = 0
    with open(data, "w", encoding="utf-8") as f:
        def block(panel, v, points):
            nonlocal index
            points = [(t, y) for t, y in points if t is not None and y is not None]
            if not points:
                return
            f.write(f"# {panel} {v}\n")
            f.writelines(f"{t:.1f} {y:.1f}\n" for t, y in points)
            f.write("\n\n")
            blocks[panel].append((index, v))
            index += 1
        for v in res.variants:
            s = res.samples[v]
            if v != "btree":
                block("runs", v, [(num(r["t"]), num(r["runs"])) for r in s])
            block("rows", v, [(num(r["t"]), (num(r["rows"]) or 0) / 1e6) for r in s])
            block("point", v, res.queries[(v, "point")])
            block("range", v, res.queries[(v, "range")])
    panels = [("runs", "memkv runs", "runs"),
              ("rows", "rows inserted (millions)", "millions"),
              ("point", "point lookups during the ingest", "TPS"),
              ("range", "k >= key ORDER BY k LIMIT 20 during the ingest", "TPS")]
    gp = ['set terminal pngcairo size 1000,760 font ",10" noenhanced',
          'set output "ingest.png"',
          f'set multiplot layout 2,2 title "Sustained ingest: {res.meta.get("inserts", "?")} '
          f'inserts into {res.meta.get("keys", "?")} Debian paths ({res.meta.get("date", "")})"',
          "set grid", "set key top left", "set xlabel \"seconds since the ingest began\"",
          "set yrange [0:*]"]
    for panel, title, ylabel in panels:
        gp += [f'set title "{title}"', f'set ylabel "{ylabel}"']
        parts = [f'"ingest.dat" index {i} using 1:2 with '
                 f'{"steps" if panel == "runs" else "lines"} lw 2 title "{v}"'
                 for i, v in blocks[panel]]
        gp.append("plot " + ", \\\n     ".join(parts) if parts
                  else 'plot 0 notitle')
    gp.append("unset multiplot")
    path = os.path.join(res.outdir, "ingest.gp")
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
