#!/usr/bin/env python3
"""Helpers for bench/profile.sh (the profiling benchmark).

  profile_report.py largest MANIFEST   the table with the most rows and its CSV export, one
                                       tab-separated line: table, rows, columns, file (relative to
                                       the clinic), delimiter, encoding, line ending, bytes
  profile_report.py report RUN_DIR     the Markdown report of RUN_DIR/results.tsv (wall time,
                                       rows/s, peak RSS, CPU, ratios over Ferry, targets, checks);
                                       the run's facts come from the environment profile.sh exports
"""
import csv
import glob
import json
import os
import platform
import re
import statistics
import sys
import time

LABELS = {
    "ferry": "ferry profile --tables {table} --json",
    "qsv": "qsv stats --everything (no index: qsv's default)",
    "qsv_dates": "qsv stats --everything --infer-dates (no index)",
    "qsv_indexed": "qsv stats --everything --cache-threshold -5 (builds an index, then {nproc} threads)",
    "csvstat": "csvstat -I",
    "csvstat_infer": "csvstat (type inference, no -I)",
}

# What each tool computes per column (for qsv the header of its own output is used when present).
COMPUTED = {
    "ferry": "inferred type (integer/decimal/date/datetime/code/text/...), nulls, blanks, distinct "
             "(exact up to a limit, then a sketch with its error), min/max by type, length min/max/mean, "
             "top values, format shares (date layouts, code systems, phone, SSN...), PHI kind, samples, "
             "candidate keys",
    "csvstat": "type (Text for every column: -I turns inference off), contains nulls, non-null count, "
               "unique count, longest value (characters), 5 most common values, row count",
    "csvstat_infer": "type (Number/Date/DateTime/Boolean/Text), contains nulls, non-null count, unique "
                     "count, min/max, sum, mean, median, stdev, most decimal places, longest value, "
                     "5 most common values, row count",
    "qsv_index": "a row-offset index (lets qsv split the file over threads)",
}


def die(msg):
    sys.exit("profile_report.py: " + msg)


def load_json(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def largest(manifest_path):
    m = load_json(manifest_path)
    tables = m.get("tables") or []
    if not tables:
        die("%s lists no tables" % manifest_path)
    t = max(tables, key=lambda t: t.get("rows", 0))
    files = [f for f in m.get("files", []) if f.get("table") == t["name"] and f.get("format") == "csv"]
    if not files:
        die("%s has no CSV export for table %s" % (manifest_path, t["name"]))
    f = files[0]
    if f.get("gzip"):
        die("the export of %s is gzipped (%s): not supported" % (t["name"], f["path"]))
    if not f.get("header", True):
        die("the export of %s has no header line (%s): not supported" % (t["name"], f["path"]))
    print("\t".join(str(x) for x in (
        t["name"], t["rows"], len(t.get("columns", [])), f["path"], f.get("delimiter") or ",",
        f.get("encoding") or "UTF-8", f.get("line_ending") or "LF", f.get("bytes", 0))))


def machine():
    model, ram = "unknown", "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                    break
    except OSError:
        pass
    return os.cpu_count(), ram, model


def read_results(path):
    """Per command, in run order: median wall s, all wall s, max peak RSS kB, median CPU s, loads."""
    runs = {}
    with open(path) as f:
        for line in f:
            name, ms, rss, user, sys_, load = line.rstrip("\n").split("\t")
            runs.setdefault(name, []).append((int(ms) / 1000, int(rss), float(user) + float(sys_), load))
    out = {}
    for name, rs in runs.items():
        out[name] = dict(wall=statistics.median(r[0] for r in rs), walls=[r[0] for r in rs],
                         rss_kb=max(r[1] for r in rs), cpu=statistics.median(r[2] for r in rs),
                         loads=[r[3] for r in rs])
    return out


def find_table(obj, table):
    """The first object in a JSON tree whose `name` is `table` and that has `rows`."""
    if isinstance(obj, dict):
        if obj.get("name") == table and isinstance(obj.get("rows"), int):
            return obj
        children = obj.values()
    elif isinstance(obj, list):
        children = obj
    else:
        return None
    for c in children:
        hit = find_table(c, table)
        if hit is not None:
            return hit
    return None


def ferry_check(run, table):
    """(rows, columns, column fields, file, types found) from Ferry's JSON summary or the newest
    report in reports/ (the summary on stdout may carry only totals)."""
    candidates = [os.path.join(run, "ferry_profile.json")]
    candidates += sorted(glob.glob(os.path.join(run, "project", "reports", "*.json")),
                         key=os.path.getmtime, reverse=True)
    for path in candidates:
        try:
            t = find_table(load_json(path), table)
        except (OSError, ValueError):
            continue
        if t is not None:
            cols = [c for c in t.get("columns") or [] if isinstance(c, dict)]
            fields = sorted(cols[0].keys()) if cols else []
            types = type_counts(str(c.get("inferred_type", "?")) for c in cols)
            return t["rows"], len(cols), fields, path, types
    return None, None, [], None, ""


def qsv_check(path):
    """(columns profiled, statistics in its output, types found) from a `qsv stats` output CSV."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = list(csv.DictReader(f))
            header = list(rows[0].keys()) if rows else []
    except OSError:
        return None, [], ""
    return len(rows), [h for h in header if h != "field"], type_counts(r.get("type", "?") for r in rows)


def type_counts(types):
    counts = {}
    for t in types:
        counts[t] = counts.get(t, 0) + 1
    return ", ".join("%s %d" % (t, n) for t, n in sorted(counts.items(), key=lambda kv: -kv[1]))


def csvstat_rows(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return None
    m = re.search(r"Row count:\s*([\d,]+)", text)
    return int(m.group(1).replace(",", "")) if m else None


def report(run):
    env = os.environ
    table, rows, ncols = env["TABLE"], int(env["ROWS"]), int(env["NCOLS"])
    results = read_results(os.path.join(run, "results.tsv"))
    nproc, ram, model = machine()
    w = print
    w("## Profiling benchmark, largest table of a %s-patient clinic (seed %s)" % (
        "{:,}".format(int(env["PATIENTS"])), env["SEED"]))
    w()
    w("- Date: %s" % time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()))
    w("- Machine: %s cores (nproc), %s RAM, CPU `%s`, kernel %s" % (nproc, ram, model, platform.release()))
    w("- Table: `%s`, %s rows x %d columns; CSV export `%s` (%s bytes, delimiter `%s`, %s, %s)" % (
        table, "{:,}".format(rows), ncols, env["FILE"], "{:,}".format(int(env["FILE_BYTES"])),
        env["DELIM"], env["ENCODING"], env["EOL"]))
    w("- Versions: %s (release build); %s; csvstat %s" % (
        env.get("FERRY_VERSION", "?"), env.get("QSV_VERSION_OUT") or "qsv not run",
        (env.get("CSVSTAT_VERSION") or "not run").replace("csvstat ", "")))
    w()
    w("| tool | wall s (median) | runs, s | rows/s | peak RSS MiB | CPU user+sys s | time / ferry |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    ferry = results.get("ferry")
    for name, r in results.items():
        label = LABELS.get(name, name).format(table=table, nproc=nproc)
        rate = "" if name == "qsv_index" else "{:,.0f}".format(rows / r["wall"]) if r["wall"] > 0 else "-"
        ratio = "%.2fx" % (r["wall"] / ferry["wall"]) if ferry and ferry["wall"] > 0 else "pending"
        runs = " / ".join("%.2f" % x for x in r["walls"])
        w("| %s | %.2f | %s | %s | %.0f | %.1f | %s |" % (
            label, r["wall"], runs, rate, r["rss_kb"] / 1024, r["cpu"], ratio))
    why = "skipped (SKIP_FERRY)" if env.get("SKIP_FERRY") else "pending (`ferry profile` not available yet)"
    if "ferry" not in results:
        w("| ferry profile --tables %s --json | %s | | | | | |" % (table, why))
    w()
    w("Each command ran %s times in a row; wall s is the median (the ratios use it), peak RSS the "
      "largest of the runs, CPU the median. MiB = 2^20 bytes. rows/s = the table's %s rows over "
      "the median wall time. Wall time is a nanosecond clock around the command; peak RSS and CPU "
      "from GNU `/usr/bin/time -v`." % (env.get("REPEAT", "?"), "{:,}".format(rows)))
    w()
    w("What each one computed, per column:")
    w()
    qsv_n, qsv_fields, qsv_types = qsv_check(os.path.join(run, "qsv_stats.csv"))
    _, _, qsv_dates_types = qsv_check(os.path.join(run, "qsv_stats_dates.csv"))
    f_rows, f_cols, f_fields, f_path, f_types = ferry_check(run, table) if ferry else (None, None, [], None, "")
    for name in results:
        if name == "qsv_index":
            continue
        label = LABELS.get(name, name).format(table=table, nproc=nproc)
        if name == "qsv" and qsv_fields:
            what = "%s (columns of its output); types found: %s" % (", ".join(qsv_fields), qsv_types)
        elif name == "qsv_dates":
            what = "the same statistics; types found: %s" % qsv_dates_types
        elif name == "qsv_indexed":
            what = "the same as without the index"
        elif name == "ferry":
            what = COMPUTED["ferry"]
            if f_types:
                what += "; types found: " + f_types
        else:
            what = COMPUTED.get(name, "?")
        w("- %s: %s" % (label, what))
    w()
    w("Targets:")
    w()
    if ferry:
        for name, target, text in (("qsv", 1.0, "Ferry no slower than qsv --everything"),
                                   ("qsv_dates", 1.0, "Ferry no slower than qsv --everything --infer-dates"),
                                   ("qsv_indexed", 1.0, "Ferry no slower than indexed qsv --everything"),
                                   ("csvstat", 10.0, "csvstat -I at least 10x slower than Ferry"),
                                   ("csvstat_infer", 10.0, "csvstat (inference) at least 10x slower than Ferry")):
            if name in results:
                ratio = results[name]["wall"] / ferry["wall"]
                w("- %s / ferry: **%.2fx** (%s: %s)" % (name, ratio, text, "met" if ratio >= target else "MISSED"))
    else:
        if env.get("SKIP_FERRY"):
            w("- not measured: Ferry was skipped (SKIP_FERRY)")
        else:
            w("- pending: `ferry profile` was not available in %s, so qsv/ferry and csvstat/ferry are "
              "not measured yet" % env.get("FERRY_VERSION", "this build"))
    w()
    w("Checks (each tool saw the whole table):")
    w()
    if ferry:
        if f_rows is None:
            w("- ferry: no table `%s` with `rows` found in its JSON output (see %s)" % (table, run))
        else:
            w("- ferry: %s rows, %s columns (%s) in %s" % (
                "{:,}".format(f_rows), f_cols, "equal" if f_rows == rows else "DIFFERS from %d" % rows,
                os.path.basename(f_path)))
    if "qsv" in results:
        w("- qsv: %s columns in its stats (%s)" % (qsv_n, "equal" if qsv_n == ncols else "DIFFERS from %d" % ncols))
    for name in ("csvstat", "csvstat_infer"):
        if name in results:
            n = csvstat_rows(os.path.join(run, name + ".txt"))
            w("- %s: row count %s (%s)" % (name, "{:,}".format(n) if n is not None else "missing",
                                            "equal" if n == rows else "DIFFERS from %d" % rows))
    w()
    w("1-minute load average just before each measurement (%d cores; above ~0.5 means other work "
      "was running): " % nproc + "; ".join("%s %s" % (n, " / ".join(r["loads"])) for n, r in results.items())
      + ".")


def main(argv):
    if len(argv) == 3 and argv[1] == "largest":
        largest(argv[2])
    elif len(argv) == 3 and argv[1] == "report":
        report(argv[2])
    else:
        die("usage: profile_report.py largest MANIFEST | report RUN_DIR")


if __name__ == "__main__":
    main(sys.argv)
