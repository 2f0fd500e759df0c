#!/usr/bin/env python3
"""bench/scale_report.py -- results.md and scale.png of bench/scale.sh.

Usage: python3 bench/scale_report.py OUT [MORE_OUT ...]

Reads OUT/scale.tsv and OUT/meta.tsv (and those of each MORE_OUT: other
runs of scale.sh, e.g. the 100M size run on its own, or --tuned), writes
OUT/results.md -- the runs' settings, one table per run and size with
memkv/btree ratios, and the issue 15 targets with PASS/FAIL -- and
OUT/scale.png (gnuplot): memkv's speed relative to btree's per query and
both indexes' bytes per key against the number of keys (log x), the
default-settings runs only.  Prints nothing; exits non-zero if a file
is missing.

Speed ratio = btree's mean statement latency / memkv's, from the same
mixed pgbench run (> 1: memkv faster).  CREATE INDEX ratio = memkv's
time / btree's, the median of the pairs' ratios (< 1: memkv faster).
"""

import os
import statistics
import subprocess
import sys
from collections import defaultdict

QUERY_LABEL = {
    "point": "point lookup",
    "prefix": "prefix count LIKE 'dir/%'",
    "range": "k >= $1 ORDER BY k LIMIT 20",
}


def read_meta(d):
    meta = {}
    with open(os.path.join(d, "meta.tsv")) as f:
        for line in f:
            k, _, v = line.rstrip("\n").partition("\t")
            meta[k] = v
    return meta


def read_tsv(d):
    """{(set, keys): {(kind, metric): [values by rep order]}}"""
    data = defaultdict(lambda: defaultdict(list))
    order = []
    with open(os.path.join(d, "scale.tsv")) as f:
        next(f)
        for line in f:
            s, n, kind, metric, _rep, value = line.rstrip("\n").split("\t")
            key = (s, int(n))
            if key not in data:
                order.append(key)
            data[key][(kind, metric)].append(value)
    return data, order


def num(v):
    try:
        return float(v)
    except (TypeError, ValueError):
        return None


def fmt(x, nd=2):
    if x is None:
        return "-"
    if abs(x) >= 100:
        return f"{x:,.0f}"
    return f"{x:.{nd}f}"


def label_of(meta):
    return "tuned" if meta.get("tuned") == "1" else "default"


def size_table(fig, meta, s, n):
    """Markdown rows of one size, and the figures the targets need."""
    clients = meta.get("clients", "1 8").split()
    out = []
    got = {}
    kb = num((fig.get(("both", "key_bytes")) or [None])[0])
    out.append(f"#### {s}, {n:,} keys ({label_of(meta)} settings"
               + (f", {kb:.1f} bytes per key on average" if kb else "") + ")")
    out.append("")
    out.append("| figure | btree | memkv | memkv/btree |")
    out.append("|---|---|---|---|")
    bt = [num(v) for v in fig.get(("btree", "build_s"), [])]
    mk = [num(v) for v in fig.get(("memkv", "build_s"), [])]
    if bt and mk:
        ratios = [m / b for m, b in zip(mk, bt) if m and b]
        r = statistics.median(ratios) if ratios else None
        got["build"] = r
        out.append("| CREATE INDEX (s), each pair | "
                   + ", ".join(fmt(x) for x in bt) + " | "
                   + ", ".join(fmt(x) for x in mk) + f" | {fmt(r)} (time) |")
    bb = num((fig.get(("btree", "bytes_per_key")) or [None])[0])
    mb = num((fig.get(("memkv", "bytes_per_key")) or [None])[0])
    if bb and mb:
        got["size"] = mb / bb
        out.append(f"| index size (B/key) | {fmt(bb, 1)} | {fmt(mb, 1)} | {mb / bb:.3f} |")
    for q in ("point", "prefix", "range"):
        for c in clients:
            b = num((fig.get(("btree", f"lat_us_{q}_c{c}")) or [None])[0])
            m = num((fig.get(("memkv", f"lat_us_{q}_c{c}")) or [None])[0])
            if b is None and m is None:
                continue
            r = b / m if b and m else None
            got[(q, c)] = r
            l0 = (fig.get(("both", f"load1_before_{q}_c{c}")) or ["?"])[0]
            l1 = (fig.get(("both", f"load1_after_{q}_c{c}")) or ["?"])[0]
            out.append(f"| {QUERY_LABEL[q]}, {c} client{'s' if c != '1' else ''}: "
                       f"statement latency (us), load {l0} -> {l1} | {fmt(b, 1)} | "
                       f"{fmt(m, 1)} | {fmt(r)} (speed) |")
    plans = []
    for kind in ("btree", "memkv"):
        bad = [k[1][len("plan_ok_"):] for k, v in fig.items()
               if k[0] == kind and k[1].startswith("plan_ok_") and v[0] != "1"]
        plans.append("all on its index" if not bad else "NOT on its index: " + ", ".join(bad))
    out.append(f"| plans (point, range: Index Scan; prefix: Index Only Scan) | {plans[0]} | {plans[1]} | |")
    ans = [(fig.get((k, "answers_ok")) or ["?"])[0] for k in ("btree", "memkv")]
    out.append("| answers = seq scan | " + " | ".join(
        {"1": "yes", "0": "**NO**"}.get(a, "?") for a in ans) + " | |")
    runs = (fig.get(("memkv", "runs")) or ["?"])[0]
    pages = (fig.get(("memkv", "frozen_pages")) or ["?"])[0]
    cache = num((fig.get(("memkv", "cache_bytes")) or [None])[0])
    out.append(f"| memkv after the build: runs, pages, shared copy + key blocks | | "
               f"{runs}, {pages}, {fmt(cache / 1048576 if cache is not None else None, 1)} MB | |")
    load = (fig.get(("both", "load_s")) or ["?"])[0]
    out.append(f"| COPY of both tables (s) | {load} | | |")
    out.append("")
    return out, got


def targets(results):
    """issue 15's targets from the default-settings figures."""
    rows = ["| target | size | figure | result |", "|---|---|---|---|"]

    def verdict(ok):
        return "PASS" if ok else "**FAIL**"

    for (lab, s, n), (meta, got) in results.items():
        if lab != "default":
            continue
        big = (s == "paths" and n >= 7000000) or (s == "urls" and n >= 20000000)
        if big:
            for q in ("point", "prefix", "range"):
                for c in meta.get("clients", "1 8").split():
                    r = got.get((q, c))
                    if r is not None:
                        rows.append(f"| {QUERY_LABEL[q]} >= 1.0x btree, {c} client(s) | "
                                    f"{s} {n:,} | {r:.2f}x | {verdict(r >= 1.0)} |")
        if s == "paths" and n >= 7000000 and got.get("size") is not None:
            rows.append(f"| size <= 0.1x btree | {s} {n:,} | {got['size']:.3f}x | "
                        f"{verdict(got['size'] <= 0.1)} |")
        if s == "urls" and n >= 20000000 and got.get("build") is not None:
            rows.append(f"| CREATE INDEX <= btree's time | {s} {n:,} | {got['build']:.2f}x | "
                        f"{verdict(got['build'] <= 1.0)} |")
    return rows


def wide(results, tsvs):
    """One table, the default-settings sizes as columns."""
    cols = sorted(((n, s) for (lab, s, n) in results if lab == "default"))
    if not cols:
        return []
    head = "| figure | " + " | ".join(f"{s} {n / 1e6:.3g}M" for n, s in cols) + " |"
    rows = [head, "|---|" + "---|" * len(cols)]

    def first(fig, kind, metric):
        return num((fig.get((kind, metric)) or [None])[0])

    def line(label, cell):
        rows.append(f"| {label} | " + " | ".join(cell(tsvs[(s, n)], results[("default", s, n)][1])
                                               for n, s in cols) + " |")

    line("CREATE INDEX btree (s), each pair",
         lambda f, g: ", ".join(fmt(num(x), 1) for x in f.get(("btree", "build_s"), [])))
    line("CREATE INDEX memkv (s), each pair",
         lambda f, g: ", ".join(fmt(num(x), 1) for x in f.get(("memkv", "build_s"), [])))
    line("CREATE INDEX memkv/btree (time)", lambda f, g: fmt(g.get("build")))
    line("size btree / memkv (B/key)",
         lambda f, g: f"{fmt(first(f, 'btree', 'bytes_per_key'), 1)} / "
                      f"{fmt(first(f, 'memkv', 'bytes_per_key'), 1)}")
    line("size memkv/btree", lambda f, g: fmt(g.get("size"), 3))
    clients = sorted({k[1][k[1].rindex("_c") + 2:] for f in tsvs.values() for k in f
                      if k[1].startswith("lat_us_")}, key=int)
    for q in ("point", "prefix", "range"):
        for c in clients:
            def cell(f, g, q=q, c=c):
                b = first(f, "btree", f"lat_us_{q}_c{c}")
                m = first(f, "memkv", f"lat_us_{q}_c{c}")
                if b is None or m is None:
                    return "-"
                return f"{b:,.0f} / {m:,.0f} us: **{b / m:.2f}**"
            line(f"{QUERY_LABEL[q]}, {c} client{'s' if c != '1' else ''}: btree / memkv latency, speed", cell)
    for q in ("point", "prefix", "range"):
        def pcell(f, g, q=q):
            v = [first(f, k, f"{m}_{q}") for k in ("btree", "memkv") for m in ("pages", "reads")]
            if None in v:
                return "-"
            return f"{v[0]:.2f} ({v[1]:.2f}) / {v[2]:.2f} ({v[3]:.2f})"
        line(f"{QUERY_LABEL[q]}: index pages per statement btree / memkv (of them read, not in shared buffers)", pcell)
    line("memkv runs, pages, shared copy (MB)",
         lambda f, g: f"{(f.get(('memkv', 'runs')) or ['?'])[0]}, "
                      f"{(f.get(('memkv', 'frozen_pages')) or ['?'])[0]}, "
                      f"{fmt((first(f, 'memkv', 'cache_bytes') or 0) / 1048576, 1)}")

    def loads(f, g):
        v = [num(x[0]) for k, x in f.items() if k[1].startswith("load1_")]
        v = [x for x in v if x is not None]
        return f"{min(v):.1f}-{max(v):.1f}" if v else "-"
    line("1-min load around the pgbench runs", loads)
    return rows


def plot(results, out):
    pts = sorted((n, s, got) for (lab, s, n), (meta, got) in results.items()
                 if lab == "default")
    if not pts:
        return
    dat = os.path.join(out, "scale_plot.dat")
    with open(dat, "w") as f:
        f.write("# keys set point_c1 prefix_c1 range_c1 point_c8 prefix_c8 range_c8 "
                "btree_Bkey memkv_Bkey\n")
        for n, s, got in pts:
            vals = [got.get((q, c)) for c in ("1", "8") for q in ("point", "prefix", "range")]
            b = got.get("bytes", (None, None))
            f.write(f"{n} {s} " + " ".join("NaN" if v is None else f"{v:.3f}" for v in vals)
                    + " " + " ".join("NaN" if v is None else f"{v:.2f}" for v in b) + "\n")
    gp = f"""
set terminal pngcairo size 1200,520 font ',10'
set output '{os.path.join(out, "scale.png")}'
set multiplot layout 1,2 title 'memkv against btree, default settings (bench/scale.sh): paths up to 7.3M keys, URL-like keys above'
set logscale x
set xrange [500000:200000000]
set format x '%.0s%c'
set grid
set key below maxrows 3
set xlabel 'keys'
set ylabel 'memkv speed / btree speed (statement latency)'
set yrange [0:1.6]
plot '{dat}' u 1:3 w lp lw 2 lc 1 pt 7 t 'point, 1 client', \\
     '' u 1:4 w lp lw 2 lc 2 pt 5 t 'prefix count, 1', \\
     '' u 1:5 w lp lw 2 lc 3 pt 9 t 'LIMIT 20, 1', \\
     '' u 1:6 w lp dt 2 lc 1 pt 6 t 'point, 8 clients', \\
     '' u 1:7 w lp dt 2 lc 2 pt 4 t 'prefix count, 8', \\
     '' u 1:8 w lp dt 2 lc 3 pt 8 t 'LIMIT 20, 8', \\
     1 w l lc 'black' t 'btree'
set ylabel 'index bytes per key'
set logscale y
set yrange [1:300]
plot '{dat}' u 1:9 w lp lw 2 pt 7 t 'btree', '' u 1:10 w lp lw 2 pt 5 t 'memkv'
unset multiplot
"""
    subprocess.run(["gnuplot"], input=gp.encode(), check=True)


def main():
    dirs = sys.argv[1:]
    if not dirs:
        sys.exit("usage: scale_report.py OUT [MORE_OUT ...]")
    out = dirs[0]
    lines = ["# memkv against btree at scale (bench/scale.sh)", ""]
    results = {}
    tsvs = {}
    for d in dirs:
        meta = read_meta(d)
        data, order = read_tsv(d)
        lab = label_of(meta)
        lines.append(f"### Run: {lab} settings, {', '.join(f'{s} {n:,}' for s, n in order)}")
        lines.append("")
        lines.append("| | |")
        lines.append("|---|---|")
        for k in ("command", "date", "machine", "postgres", "memkv_commit",
                  "load_start", "load_end", "clients", "duration", "probes", "checks",
                  "prewarm", "perf_at"):
            if k in meta:
                lines.append(f"| {k} | {meta[k].replace('|', '/')} |")
        sets = [f"{k[len('setting '):]} = {v}" for k, v in meta.items()
                if k.startswith("setting ")]
        lines.append(f"| settings (SHOW) | {'; '.join(sets)} |")
        lines.append("")
        notes = os.path.join(d, "notes.txt")
        if os.path.exists(notes) and os.path.getsize(notes):
            lines.append("Notes:")
            lines.append("")
            with open(notes) as f:
                lines.extend(f"- {x.rstrip()}" for x in f if x.strip())
            lines.append("")
        for s, n in order:
            rows, got = size_table(data[(s, n)], meta, s, n)
            bb = num((data[(s, n)].get(("btree", "bytes_per_key")) or [None])[0])
            mb = num((data[(s, n)].get(("memkv", "bytes_per_key")) or [None])[0])
            got["bytes"] = (bb, mb)
            results[(lab, s, n)] = (meta, got)
            if lab == "default":
                tsvs[(s, n)] = data[(s, n)]
            lines.extend(rows)
    lines.append("### All default-settings sizes")
    lines.append("")
    lines.extend(wide(results, tsvs))
    lines.append("")
    lines.append("### Issue 15's targets (default settings)")
    lines.append("")
    lines.extend(targets(results))
    lines.append("")
    with open(os.path.join(out, "results.md"), "w") as f:
        f.write("\n".join(lines) + "\n")
    plot(results, out)


if __name__ == "__main__":
    main()
