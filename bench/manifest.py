#!/usr/bin/env python3
"""Reads a generated clinic's manifest.json (see docs/generator.md) for bench/stage.sh.

  manifest.py total MANIFEST               total row count over all tables
  manifest.py ferry-rows SUMMARY_JSON      the `rows` of a `ferry stage --json` summary
  manifest.py count-sql MANIFEST           one SQL statement: the sum of COUNT(*) over all tables
                                           (valid in MariaDB and SQLite)
  manifest.py sqlite-script MANIFEST DIR   sqlite3 dot-commands importing every CSV file of DIR
                                           (one .import per file, its own separator, one transaction)
"""
import json
import sys


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def total(manifest):
    return sum(t["rows"] for t in manifest["tables"])


def ferry_rows(summary):
    rows = summary.get("rows")
    if isinstance(rows, int):
        return rows
    tables = summary.get("tables")
    if isinstance(tables, list):
        return sum(t.get("rows", 0) for t in tables)
    raise SystemExit("manifest.py: the ferry --json summary has no `rows` field: %r" % sorted(summary))


def quote_ident(name):
    return "`" + name.replace("`", "``") + "`"


def count_sql(manifest):
    parts = ["(SELECT COUNT(*) FROM %s)" % quote_ident(t["name"]) for t in manifest["tables"]]
    return "SELECT " + " + ".join(parts) + ";"


def dot_quote(s):
    # sqlite3 shell arguments: double-quoted, backslash escapes.
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def sqlite_script(manifest, clinic_dir):
    columns = {t["name"]: t["columns"] for t in manifest["tables"]}
    out = [".bail on", ".mode csv", "BEGIN;"]
    n = 0
    for f in manifest["files"]:
        if f.get("format") != "csv":
            continue
        table = f["table"]
        # Declared up front (all TEXT, as .import itself would create them) so that the header
        # line is skipped the same way whether or not the file has one.
        cols = ", ".join('"%s" TEXT' % c.replace('"', '""') for c in columns[table])
        out.append('CREATE TABLE "%s" (%s);' % (table.replace('"', '""'), cols))
        delim = f.get("delimiter") or ","
        out.append(".separator %s" % dot_quote(delim))
        skip = "--skip 1 " if f.get("header", True) else ""
        out.append(".import %s%s %s" % (skip, dot_quote(clinic_dir + "/" + f["path"]), dot_quote(table)))
        n += 1
    out.append("COMMIT;")
    if n == 0:
        raise SystemExit("manifest.py: the manifest lists no CSV files")
    return "\n".join(out) + "\n"


def main(argv):
    if len(argv) < 3:
        raise SystemExit(__doc__)
    cmd, path = argv[1], argv[2]
    if cmd == "total":
        print(total(load(path)))
    elif cmd == "ferry-rows":
        print(ferry_rows(load(path)))
    elif cmd == "count-sql":
        print(count_sql(load(path)))
    elif cmd == "sqlite-script" and len(argv) == 4:
        sys.stdout.write(sqlite_script(load(path), argv[3]))
    else:
        raise SystemExit(__doc__)


if __name__ == "__main__":
    main(sys.argv)
