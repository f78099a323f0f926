#!/usr/bin/env python3
"""Prints bench/stage.sh's results as a Markdown report (table, ratios against targets, row checks)."""
import argparse
import os
import platform
import subprocess
import time

LABELS = {
    "cat": "cat clinic.sql > /dev/null (I/O floor, warm cache)",
    "ferry_sql": "ferry stage clinic.sql",
    "ferry_csv": "ferry stage csv/",
    "mariadb_default": "mariadb < clinic.sql (MariaDB defaults)",
    "mariadb_tuned": "mariadb < clinic.sql (2 GiB buffer pool, 1 GiB redo log)",
    "mariadb_unsafe": "mariadb < clinic.sql (tuned + no flush at commit, no doublewrite)",
    "sqlite3": "sqlite3 .import csv/ (one transaction)",
}


def machine():
    model = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    ram = "unknown"
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    ram = "%.1f GiB" % (int(line.split()[1]) / 1024 / 1024)
                    break
    except OSError:
        pass
    return os.cpu_count(), ram, model


def read_results(path):
    rows = []
    with open(path) as f:
        next(f)
        for line in f:
            name, nbytes, wall, rss, user, sys_ = line.rstrip("\n").split("\t")
            rows.append(dict(name=name, bytes=int(nbytes), wall=float(wall), rss_kb=int(rss),
                             user=float(user), sys=float(sys_)))
    return rows


def read_kv(path):
    out = {}
    if os.path.exists(path):
        with open(path) as f:
            for line in f:
                parts = line.split()
                if len(parts) >= 2:
                    out[parts[0]] = int(parts[1])
    return out


def verdict(ok):
    return "met" if ok else "MISSED"


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--results", required=True)
    p.add_argument("--run", required=True)
    p.add_argument("--patients", type=int, required=True)
    p.add_argument("--seed", required=True)
    p.add_argument("--dump-bytes", type=int, required=True)
    p.add_argument("--csv-bytes", type=int, required=True)
    p.add_argument("--manifest-rows", type=int, required=True)
    p.add_argument("--ferry-rows", type=int, required=True)
    p.add_argument("--ferry-csv-rows", type=int, required=True)
    p.add_argument("--ferry-version", default="")
    p.add_argument("--mariadb-version", default="")
    p.add_argument("--sqlite-version", default="")
    a = p.parse_args()

    res = {r["name"]: r for r in read_results(a.results)}
    server_rss = read_kv(os.path.join(a.run, "server_rss.txt"))
    server_cpu_ms = read_kv(os.path.join(a.run, "server_cpu_ms.txt"))
    other_rows = read_kv(os.path.join(a.run, "rows.txt"))
    nproc, ram, model = machine()
    ferry = res["ferry_sql"]

    out = []
    w = out.append
    w("## Staging benchmark, %d patients (seed %s)" % (a.patients, a.seed))
    w("")
    w("- Date: %s" % time.strftime("%Y-%m-%d %H:%M %Z"))
    w("- Machine: %s cores (nproc), %s RAM, CPU `%s`, kernel %s" % (nproc, ram, model, platform.release()))
    w("- Input: `clinic.sql` %s bytes (%.2f GB, %.2f GiB); `csv/` %s bytes (%.2f GB)"
      % (f"{a.dump_bytes:,}", a.dump_bytes / 1e9, a.dump_bytes / 2**30, f"{a.csv_bytes:,}", a.csv_bytes / 1e9))
    w("- %s (release build); MariaDB %s; sqlite3 %s"
      % (a.ferry_version or "ferry", a.mariadb_version or "not run", a.sqlite_version or "not run"))
    w("")
    w("| tool | wall s | MB/s of input | peak RSS MiB | CPU user+sys s | time / ferry stage clinic.sql |")
    w("|---|---:|---:|---:|---:|---:|")
    for name, r in res.items():
        rss_kb = r["rss_kb"]
        rss_note = ""
        if name in server_rss:
            rss_note = " (server %d; client %d)" % (server_rss[name] // 1024, rss_kb // 1024)
            rss_kb = server_rss[name]
        mbps = r["bytes"] / 1e6 / r["wall"] if r["wall"] > 0 else float("inf")
        ratio = r["wall"] / ferry["wall"] if ferry["wall"] > 0 else float("inf")
        cpu = r["user"] + r["sys"]
        cpu_note = ""
        if name in server_cpu_ms:
            cpu_note = " (server %.1f; client %.1f)" % (server_cpu_ms[name] / 1000, cpu)
            cpu += server_cpu_ms[name] / 1000
        w("| %s | %.2f | %.0f | %d%s | %.1f%s | %.2fx |" % (
            LABELS.get(name, name), r["wall"], mbps, rss_kb // 1024, rss_note, cpu, cpu_note, ratio))
    w("")
    w("MB = 10^6 bytes; MiB = 2^20 bytes. MB/s is the tool's own input (the dump, or the CSV folder) "
      "over its wall time. For MariaDB the peak RSS is the server's (VmHWM over its whole life: "
      "start, restore, row count) and the CPU time is server + client, each in brackets.")
    loads = []
    if os.path.exists(os.path.join(a.run, "loadavg.txt")):
        with open(os.path.join(a.run, "loadavg.txt")) as f:
            loads = [line.split() for line in f if len(line.split()) == 2]
    if loads:
        w("")
        w("1-minute load average just before each measurement (2 cores; above ~0.5 means other work "
          "was running): " + ", ".join("%s %s" % (n, l) for n, l in loads) + ".")
    w("")
    w("Targets:")
    w("")
    for name in res:
        if name.startswith("mariadb_"):
            ratio = res[name]["wall"] / ferry["wall"]
            w("- %s / Ferry: **%.2fx** (target >= 5x: %s)" % (LABELS[name], ratio, verdict(ratio >= 5)))
    if "sqlite3" in res:
        ratio = res["sqlite3"]["wall"] / ferry["wall"]
        w("- sqlite3 import of csv/ / `ferry stage clinic.sql`: **%.2fx** (target >= 1x: %s)"
          % (ratio, verdict(ratio >= 1)))
        if "ferry_csv" in res:
            ratio = res["sqlite3"]["wall"] / res["ferry_csv"]["wall"]
            w("- sqlite3 import of csv/ / `ferry stage csv/` (same input): **%.2fx** (target >= 1x: %s)"
              % (ratio, verdict(ratio >= 1)))
    rss_mib = ferry["rss_kb"] / 1024
    w("- Ferry peak RSS (stage clinic.sql): **%.0f MiB** (target < 500 MB: %s)" % (rss_mib, verdict(rss_mib * 1.048576 < 500)))
    if "ferry_csv" in res:
        rss_mib = res["ferry_csv"]["rss_kb"] / 1024
        w("- Ferry peak RSS (stage csv/): **%.0f MiB** (target < 500 MB: %s)" % (rss_mib, verdict(rss_mib * 1.048576 < 500)))
    w("")
    w("Row counts (manifest total: %s):" % f"{a.manifest_rows:,}")
    w("")
    w("- ferry stage clinic.sql: %s (%s)" % (f"{a.ferry_rows:,}", "equal" if a.ferry_rows == a.manifest_rows else "DIFFERENT"))
    w("- ferry stage csv/: %s (%s)" % (f"{a.ferry_csv_rows:,}", "equal" if a.ferry_csv_rows == a.manifest_rows else "DIFFERENT"))
    for name, n in other_rows.items():
        w("- %s: %s (%s)" % (name, f"{n:,}", "equal" if n == a.manifest_rows else "DIFFERENT"))
    print("\n".join(out))
    if a.ferry_rows != a.manifest_rows:
        raise SystemExit("stage.sh: ferry staged %d rows, the manifest says %d" % (a.ferry_rows, a.manifest_rows))


if __name__ == "__main__":
    main()
