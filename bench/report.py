#!/usr/bin/env python3
"""bench/report.py -- turn one bench/run.sh result dir into results.md + PNGs.

Usage: python3 bench/report.py RESULT_DIR

Reads RESULT_DIR/{meta.tsv,raw.tsv,plans.tsv,answers.tsv,notes.txt}, which
bench/run.sh writes, and writes RESULT_DIR/results.md and the plots
(bytes_per_key.png, tps_<set>.png, probe_ns.png, scaling_*.png) through
gnuplot.  Every number printed is the median of the repetitions in raw.tsv;
every ratio is memkv's (or SP-GiST's) median over btree's median for the
same data set in the same run, except in the paired tables: there each
repetition of memkv is divided by the btree repetition run right next to
it, and the median of those ratios is reported; and in the mixed tables,
where each run's btree latency is divided by its memkv latency (both came
from the same pgbench run).  Standard library only.
"""

import os
import statistics
import subprocess
import sys
from collections import defaultdict

KINDS = ["btree", "spgist", "memkv"]
KIND_NAME = {"btree": "btree", "spgist": "SP-GiST", "memkv": "memkv"}
QUERY_NAME = {
    "point": "point lookup",
    "missing": "missing key",
    "prefix": "prefix count LIKE 'dir/%'",
    "range": "range >= key ORDER BY k LIMIT 20",
    "ionly": "index-only ORDER BY k LIMIT 20",
}

# (metric, label, memkv only); the order of the rows of every table.
MAIN_ROWS = [
    ("build_s", "CREATE INDEX (s)", False),
    ("bytes_per_key", "index size after build (B/key)", False),
    ("shmem_per_key", "memkv shared memory after build (B/key)", True),
    ("copy_s", "COPY {inserts} rows into the indexed table (s)", False),
    ("bytes_per_key_copy", "index size after COPY (B/key)", False),
    ("shmem_per_key_copy", "memkv shared memory after COPY (B/key)", True),
    ("freeze_s", "memkv_freeze after COPY (s)", True),
    ("bytes_per_key_freeze", "index size after freeze (B/key)", True),
    ("shmem_per_key_freeze", "memkv shared memory after freeze (B/key)", True),
    ("tps_insert", "single-row INSERT (TPS)", False),
    ("tps_point", "point lookup (TPS)", False),
    ("tps_missing", "missing key (TPS)", False),
    ("tps_prefix", "prefix count LIKE 'dir/%' (TPS)", False),
    ("tps_range", "range >= key ORDER BY k LIMIT 20 (TPS)", False),
    ("tps_ionly", "index-only ORDER BY k LIMIT 20 (TPS)", False),
    ("tps_point_copy", "point lookup after COPY (TPS)", False),
    ("probe_hit_ns", "AM probe, existing key (ns/probe)", False),
    ("probe_miss_ns", "AM probe, missing key (ns/probe)", False),
    ("probe_hit_cpu_ns", "AM probe, existing key (CPU ns/probe)", False),
    ("probe_miss_cpu_ns", "AM probe, missing key (CPU ns/probe)", False),
]
# (metric, label) of the paired measurements (bench/run.sh bench_paired).
PAIRED_ROWS = [
    ("build_s", "CREATE INDEX (s)"),
    ("tps_point", "point lookup (TPS)"),
    ("tps_missing", "missing key (TPS)"),
    ("tps_prefix", "prefix count LIKE 'dir/%' (TPS)"),
    ("tps_range", "range >= key ORDER BY k LIMIT 20 (TPS)"),
    ("tps_ionly", "index-only ORDER BY k LIMIT 20 (TPS)"),
]
SCALING_ROWS = [
    ("bytes_per_key", "index size (B/key)"),
    ("shmem_per_key", "memkv shared memory (B/key)"),
    ("build_s", "CREATE INDEX (s)"),
    ("tps_point", "point lookup (TPS)"),
    ("probe_hit_ns", "AM probe, existing key (ns/probe)"),
    ("probe_hit_cpu_ns", "AM probe, existing key (CPU ns/probe)"),
]


def read_tsv(path, ncols):
    rows = []
    if os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == ncols:
                    rows.append(parts)
    return rows


def fmt(v):
    if v is None:
        return None
    a = abs(v)
    if a >= 1000:
        return f"{v:,.0f}"
    if a >= 100:
        return f"{v:.0f}"
    if a >= 10:
        return f"{v:.1f}"
    if a >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


class Results:
    def __init__(self, outdir):
        self.outdir = outdir = os.path.abspath(outdir)
        self.meta = dict(read_tsv(os.path.join(outdir, "meta.tsv"), 2))
        self.values = defaultdict(list)
        self.by_rep = defaultdict(dict)
        for sec, ds, n, kind, metric, rep, val in read_tsv(
                os.path.join(outdir, "raw.tsv"), 7):
            try:
                self.values[(sec, ds, int(n), kind, metric)].append(float(val))
                self.by_rep[(sec, ds, int(n), kind, metric)][rep] = float(val)
            except ValueError:
                pass
        self.plans = {}
        for ds, kind, q, used, node in read_tsv(
                os.path.join(outdir, "plans.tsv"), 5):
            self.plans[(ds, kind, q)] = (used, node)
        self.answers = {(ds, kind): md5 for ds, kind, md5 in read_tsv(
            os.path.join(outdir, "answers.tsv"), 3)}
        notes = os.path.join(outdir, "notes.txt")
        self.notes = open(notes, encoding="utf-8").read().split("\n") \
            if os.path.exists(notes) else []
        self.notes = [n for n in self.notes if n]
        self.load = []
        loadf = os.path.join(outdir, "load.txt")
        if os.path.exists(loadf):
            for line in open(loadf, encoding="utf-8"):
                try:
                    self.load.append(float(line))
                except ValueError:
                    pass
        self.kinds = self.meta.get("kinds", "btree spgist").split()
        self.datasets = [d for d in self.meta.get("datasets", "").split(",") if d]
        self.keys = int(self.meta.get("keys", "0") or 0)

    def median(self, sec, ds, n, kind, metric):
        vals = self.values.get((sec, ds, n, kind, metric))
        return statistics.median(vals) if vals else None

    def reps(self, sec, ds, n, kind, metric):
        return len(self.values.get((sec, ds, n, kind, metric), []))


def cell(res, sec, ds, n, kind, metric, memkv_only):
    """The text of one cell and the median behind it (or None)."""
    if kind not in res.kinds:
        return "skipped (memkv not installable)" if kind == "memkv" else "skipped", None
    if memkv_only and kind != "memkv":
        return "—", None
    q = metric[4:] if metric.startswith("tps_") else None
    if q in QUERY_NAME and (ds, kind, q) in res.plans:
        used, node = res.plans[(ds, kind, q)]
        if used != "yes":
            return f"n/a (plan: {node or '?'})", None
    if metric.endswith("freeze") or metric == "freeze_s":
        if not res.meta.get("freeze", "").startswith("memkv_freeze"):
            return "n/a (no memkv_freeze)", None
    v = res.median(sec, ds, n, kind, metric)
    if v is None and not memkv_only and not any(
            res.values.get((sec, ds, n, k, metric)) for k in KINDS):
        return "not measured", None
    if v is None:
        return "failed (see notes)", None
    return fmt(v), v


def per_rep_row(label, b, k, ratio_of, value_fmt, digits):
    """One table row: medians of btree's (b) and memkv's (k) repetitions,
    ratio_of(b_rep, k_rep) for every repetition measured by both, and the
    median of those ratios."""
    runs = [ratio_of(b[r], k[r]) for r in sorted(b, key=int)
            if r in k and b[r] and k[r]]
    if not runs:
        return f"| {label} | | | not measured | |"
    return (f"| {label} | {value_fmt(statistics.median(b.values()))} | "
            f"{value_fmt(statistics.median(k.values()))} | "
            f"{', '.join(f'{x:.{digits}f}' for x in runs)} | "
            f"**{statistics.median(runs):.{digits}f}** |")


def paired_table(res, ds, n):
    """Lines of the paired table of one data set (empty if none)."""
    if not any(res.by_rep.get(("paired", ds, n, "memkv", m)) for m, _l in PAIRED_ROWS):
        return []
    out = ["btree and memkv in alternation, each on its own copy of the "
           "table; a pair's ratio divides memkv's run by the btree run "
           "next to it:\n",
           "| measurement | btree | memkv | memkv/btree, each pair | median |",
           "|---|---:|---:|---|---:|"]
    for metric, label in PAIRED_ROWS:
        out.append(per_rep_row(label,
                               res.by_rep.get(("paired", ds, n, "btree", metric), {}),
                               res.by_rep.get(("paired", ds, n, "memkv", metric), {}),
                               lambda b, k: k / b, fmt, 2))
    out.append("")
    return out


def mixed_table(res, ds, n):
    """Lines of the mixed table of one data set (empty if none)."""
    if not any(res.by_rep.get(("mixed", ds, n, "memkv", "lat_" + q)) for q in QUERY_NAME):
        return []
    out = ["btree and memkv mixed: one pgbench run per query and repetition "
           "whose clients pick btree's or memkv's copy of the table at random "
           "for each transaction; mean latency of each, and btree's latency "
           "over memkv's (the TPS ratio: above 1, memkv is faster):\n",
           "| query | btree (us) | memkv (us) | btree/memkv latency, each run | median |",
           "|---|---:|---:|---|---:|"]
    for q, qname in QUERY_NAME.items():
        out.append(per_rep_row(f"{qname}, mixed",
                               res.by_rep.get(("mixed", ds, n, "btree", "lat_" + q), {}),
                               res.by_rep.get(("mixed", ds, n, "memkv", "lat_" + q), {}),
                               lambda b, k: b / k, lambda v: f"{v:.1f}", 3))
    out.append("")
    return out


def ratio(v, base):
    if v is None or base in (None, 0):
        return ""
    return f"{v / base:.2f}"


def write_markdown(res):
    m = res.meta
    out = []
    out.append("# memkv benchmark results\n")
    out.append("| | |\n|---|---|")
    for key, label in [("date", "date"), ("command", "command"),
                       ("machine", "machine"), ("postgres", "PostgreSQL"),
                       ("settings", "server settings"),
                       ("memkv_commit", "memkv commit"), ("memkv", "memkv"),
                       ("freeze", "freeze")]:
        out.append(f"| {label} | {m.get(key, '?').replace('|', '/')} |")
    duration = m.get("duration", "?")
    if duration.isdigit():
        duration += " s"
    out.append(f"| repetitions | {m.get('reps')} (median reported); pgbench "
               f"{m.get('clients')} clients, -M prepared, {duration} "
               f"per run |")
    out.append(f"| AM probes | {m.get('probes')} per repetition |")
    out.append(f"| cache | warm: tables and indexes fit in shared_buffers; "
               f"every index is measured right after the previous one |")
    if res.load:
        lo = sorted(res.load)
        out.append(f"| machine load | 1-min load average sampled during the run: "
                   f"min {lo[0]:.1f}, median {statistics.median(lo):.1f}, "
                   f"max {lo[-1]:.1f} ({len(lo)} samples; the 2 pgbench clients "
                   f"alone make ~2 on this {m.get('machine', '').split(',')[1].strip() if ',' in m.get('machine', '') else ''} machine; "
                   f"more means other work shared the CPUs) |")
    out.append("")
    out.append("Ratios are the value divided by btree's value in the same run "
               "(for times and sizes lower is better, for TPS higher is "
               "better). See bench/README.md for what each row measures.\n")

    for ds in res.datasets:
        n = res.keys
        inserts = m.get("inserts", "?")
        out.append(f"## {ds}: {n:,} keys, {m.get('avg_key_bytes_' + ds, '?')} "
                   f"bytes on average\n")
        out.append("| measurement | btree | SP-GiST | SP-GiST/btree | memkv | memkv/btree |")
        out.append("|---|---:|---:|---:|---:|---:|")
        for metric, label, memkv_only in MAIN_ROWS:
            label = label.format(inserts=f"{int(inserts):,}" if inserts.isdigit() else inserts)
            texts, vals = {}, {}
            for kind in KINDS:
                texts[kind], vals[kind] = cell(res, "main", ds, n, kind, metric, memkv_only)
            out.append(f"| {label} | {texts['btree']} | {texts['spgist']} | "
                       f"{ratio(vals['spgist'], vals['btree'])} | {texts['memkv']} | "
                       f"{ratio(vals['memkv'], vals['btree'])} |")
        seq = m.get("seqscan_answers_" + ds)
        row = []
        for kind in KINDS:
            if kind not in res.kinds:
                row.append("skipped")
            elif (ds, kind) not in res.answers:
                row.append("failed")
            else:
                row.append("yes" if res.answers[(ds, kind)] == seq else
                           f"**NO** ({res.answers[(ds, kind)]} vs {seq})")
        out.append(f"| answers = seq scan (150 queries) | {row[0]} | {row[1]} | | {row[2]} | |")
        out.append("")
        out.extend(paired_table(res, ds, n))
        out.extend(mixed_table(res, ds, n))
        out.append("Plans of the measured queries (EXPLAIN, node on the measured index):\n")
        out.append("| query | btree | SP-GiST | memkv |")
        out.append("|---|---|---|---|")
        for q, qname in QUERY_NAME.items():
            cells = []
            for kind in KINDS:
                used, node = res.plans.get((ds, kind, q), ("", ""))
                if kind not in res.kinds:
                    cells.append("skipped")
                elif not used:
                    cells.append("?")
                else:
                    cells.append(node if used == "yes" else f"not used ({node})")
            out.append(f"| {qname} | {' | '.join(cells)} |")
        out.append("")
        out.append(f"![TPS on {ds}](tps_{ds}.png)\n")

    out.append("## Size\n")
    out.append("![bytes per key](bytes_per_key.png)\n")
    out.append("![AM probe cost](probe_ns.png)\n")

    sc = sorted({(ds, n) for (sec, ds, n, _k, _m) in res.values if sec == "scaling"})
    if sc:
        out.append("## Scaling\n")
        for ds in sorted({ds for ds, _n in sc}):
            sizes = [n for d, n in sc if d == ds]
            out.append(f"### {ds}\n")
            out.append("| keys | measurement | btree | SP-GiST | SP-GiST/btree | memkv | memkv/btree |")
            out.append("|---:|---|---:|---:|---:|---:|---:|")
            for n in sizes:
                for metric, label in SCALING_ROWS:
                    texts, vals = {}, {}
                    for kind in KINDS:
                        texts[kind], vals[kind] = cell(res, "scaling", ds, n, kind, metric,
                                                       metric.startswith("shmem"))
                    out.append(f"| {n:,} | {label} | {texts['btree']} | {texts['spgist']} | "
                               f"{ratio(vals['spgist'], vals['btree'])} | {texts['memkv']} | "
                               f"{ratio(vals['memkv'], vals['btree'])} |")
            out.append("")
        out.append("![scaling: size](scaling_size.png)\n")
        out.append("![scaling: point lookups](scaling_tps.png)\n")
        out.append("![scaling: AM probes](scaling_probe.png)\n")

    out.append("## Notes\n")
    if res.notes:
        for note in res.notes:
            out.append(f"- {note}")
    else:
        out.append("- none: every measurement ran.")
    out.append("")
    with open(os.path.join(res.outdir, "results.md"), "w", encoding="utf-8") as f:
        f.write("\n".join(out))


def gnuplot(res, name, script):
    path = os.path.join(res.outdir, name + ".gp")
    with open(path, "w", encoding="utf-8") as f:
        f.write(script)
    subprocess.run(["gnuplot", path], check=True, cwd=res.outdir)


HEAD = """set terminal pngcairo size 960,540 font ",10" noenhanced
set output "{png}"
set title "{title}"
set style data histogram
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set key above
set grid ytics
set ylabel "{ylabel}"
set yrange [0:*]
set xtics rotate by -20
set rmargin 12
"""


def histogram(res, name, title, ylabel, categories, metric_of, logscale=False):
    """A clustered bar chart: one cluster per category, one bar per kind.
    metric_of(category, kind) gives the value or None (plotted as 0)."""
    table = [[metric_of(cat, kind) for kind in KINDS] for cat in categories]
    # gnuplot refuses a histogram column without a single number.
    have = [i for i in range(len(KINDS)) if any(r[i] is not None for r in table)]
    missing = [KIND_NAME[KINDS[i]] for i in range(len(KINDS)) if i not in have]
    if missing:
        title += " (no data: " + ", ".join(missing) + ")"
    dat = os.path.join(res.outdir, name + ".dat")
    with open(dat, "w", encoding="utf-8") as f:
        f.write("# category " + " ".join(KIND_NAME[k] for k in KINDS) + "\n")
        for cat, row in zip(categories, table):
            f.write('"' + cat + '" ' + " ".join(
                "NaN" if v is None else repr(v) for v in row) + "\n")
    script = HEAD.format(png=name + ".png", title=title, ylabel=ylabel)
    if logscale:
        script += "set logscale y\nset yrange [*:*]\n"
    if have:
        script += "plot " + ", ".join(
            f'"{name}.dat" using {i + 2}' + (":xtic(1)" if j == 0 else "") +
            f' title "{KIND_NAME[KINDS[i]]}" lc {i + 1}'
            for j, i in enumerate(have)) + "\n"
    else:
        script += ('set label 1 "no data" at graph 0.5,0.5 center\n'
                   'set yrange [0:1]\nplot 2 notitle\n')
    gnuplot(res, name, script)


def lines(res, name, title, ylabel, metric):
    sc = sorted({(ds, n) for (sec, ds, n, _k, _m) in res.values if sec == "scaling"})
    series = []
    for ds in sorted({d for d, _n in sc}):
        for kind in KINDS:
            pts = [(n, res.median("scaling", ds, n, kind, metric))
                   for d, n in sc if d == ds]
            pts = [(n, v) for n, v in pts if v is not None]
            if pts:
                series.append((f"{ds} {KIND_NAME[kind]}", pts))
    dat = os.path.join(res.outdir, name + ".dat")
    with open(dat, "w", encoding="utf-8") as f:
        for title, pts in series:
            f.write(f'# {title}\n')
            for n, v in pts:
                f.write(f"{n} {v!r}\n")
            f.write("\n\n")
    script = (f'set terminal pngcairo size 960,540 font ",10" noenhanced\n'
              f'set output "{name}.png"\nset title "{title}"\n'
              f'set logscale x\nset xlabel "keys"\nset ylabel "{ylabel}"\n'
              f'set grid\nset key above\nset yrange [0:*]\n')
    if series:
        script += "plot " + ", ".join(
            f'"{name}.dat" index {i} using 1:2 with linespoints lw 2 title "{t}"'
            for i, (t, _p) in enumerate(series)) + "\n"
    else:
        script += ('set label 1 "no scaling data" at graph 0.5,0.5 center\n'
                   'set xrange [1:10]\nset yrange [0:1]\nplot 2 notitle\n')
    gnuplot(res, name, script)


def write_plots(res):
    n = res.keys
    cats = []
    for ds in res.datasets:
        cats += [(f"{ds} after build", ds, "bytes_per_key"),
                 (f"{ds} after COPY", ds, "bytes_per_key_copy")]
        if res.median("main", ds, n, "memkv", "bytes_per_key_freeze") is not None:
            cats.append((f"{ds} after freeze", ds, "bytes_per_key_freeze"))
    histogram(res, "bytes_per_key", "index size, bytes per key (lower is better)",
              "bytes per key", [c[0] for c in cats],
              lambda cat, kind: next(res.median("main", ds, n, kind, m)
                                     for c, ds, m in cats if c == cat))
    for ds in res.datasets:
        qs = {"point": "point", "missing": "missing", "prefix": "prefix LIKE",
              "range": "range LIMIT 20", "ionly": "index-only LIMIT 20",
              "point_copy": "point after COPY", "insert": "INSERT"}
        histogram(res, f"tps_{ds}", f"{ds}: transactions per second "
                  f"(pgbench, higher is better; log scale; no bar: n/a)", "TPS",
                  list(qs.values()),
                  lambda label, kind, ds=ds, qs=qs: res.median(
                      "main", ds, n, kind,
                      "tps_" + next(q for q, lab in qs.items() if lab == label)),
                  logscale=True)
    cats = []
    for ds in res.datasets:
        cats += [(f"{ds} existing", ds, "probe_hit_ns"),
                 (f"{ds} missing", ds, "probe_miss_ns")]
        if res.median("main", ds, n, "btree", "probe_hit_cpu_ns") is not None:
            cats += [(f"{ds} existing (CPU)", ds, "probe_hit_cpu_ns"),
                     (f"{ds} missing (CPU)", ds, "probe_miss_cpu_ns")]
    histogram(res, "probe_ns", "AM-level equality probe, ns per probe: wall clock and "
              "backend CPU time (lower is better)",
              "ns per probe", [c[0] for c in cats],
              lambda cat, kind: next(res.median("main", ds, n, kind, m)
                                     for c, ds, m in cats if c == cat))
    lines(res, "scaling_size", "index size vs number of keys", "bytes per key",
          "bytes_per_key")
    lines(res, "scaling_tps", "point lookups vs number of keys (pgbench)", "TPS",
          "tps_point")
    lines(res, "scaling_probe", "AM probe vs number of keys", "ns per probe",
          "probe_hit_ns")


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    res = Results(sys.argv[1])
    write_markdown(res)
    write_plots(res)


if __name__ == "__main__":
    main()
