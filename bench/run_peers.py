#!/usr/bin/env python3
"""Peers of `ferry run --modules vitals` for the issue-4 mapping benchmark (bench/run.sh).

    run_peers.py duckdb CSV_DIR OUT.ndjson   # one DuckDB SQL query -> NDJSON
    run_peers.py pandas CSV_DIR OUT.ndjson   # plain pandas, chunked -> NDJSON

Both produce what modules/ferry-clinic/mappings/vitals.toml produces: one FHIR Observation
(vital-signs) per non-blank measured value of `vitals.csv`, with the same LOINC codes, displays,
UCUM units, `effectiveDateTime` from the legacy date formats (offset -05:00, the project's
local_offset), subject/encounter references, and the same row-level rules:
  - orphan exclusion: a row whose patient_id is not in patients.csv makes nothing;
  - exception: a row with any present value outside its plausible range (or not a number)
    makes nothing (Ferry sends the whole source row to the exceptions table).
Differences, on purpose: ids are md5 of the key formatted as a UUID (Ferry uses UUID v5), and
neither peer validates FHIR, writes provenance, exception records or a run ledger (Ferry does).
Prints one JSON line on stdout: {"tool", "source_rows", "resources"}.
"""

import hashlib
import json
import sys

# column, slice name, LOINC, display, unit, UCUM code, low, high (from vitals.toml)
VITALS = [
    ("height_in", "height", "8302-2", "Body height", "in", "[in_i]", 36, 96),
    ("weight_lb", "weight", "29463-7", "Body weight", "lb", "[lb_av]", 50, 700),
    ("bp_sys", "systolic", "8480-6", "Systolic blood pressure", "mmHg", "mm[Hg]", 40, 300),
    ("bp_dia", "diastolic", "8462-4", "Diastolic blood pressure", "mmHg", "mm[Hg]", 20, 200),
    ("pulse", "pulse", "8867-4", "Heart rate", "/min", "/min", 20, 250),
    ("resp", "resp", "9279-1", "Respiratory rate", "/min", "/min", 4, 60),
    ("temp_f", "temp", "8310-5", "Body temperature", "degF", "[degF]", 85, 110),
    (
        "spo2",
        "spo2",
        "59408-5",
        "Oxygen saturation in Arterial blood by Pulse oximetry",
        "%",
        "%",
        50,
        100,
    ),
    ("bmi", "bmi", "39156-5", "Body mass index (BMI) [Ratio]", "kg/m2", "kg/m2", 10, 80),
]
CAT = (
    '"category":[{"coding":[{"code":"vital-signs","display":"Vital Signs",'
    '"system":"http://terminology.hl7.org/CodeSystem/observation-category"}]}]'
)
OFFSET = "-05:00"


def duckdb_peer(csv_dir, out):
    import duckdb

    con = duckdb.connect()
    con.execute("SET threads TO 2")
    codes = ",\n".join(
        f"('{c}','{n}','{loinc}','{disp}','{unit}','{ucum}',{lo},{hi},{i})"
        for i, (c, n, loinc, disp, unit, ucum, lo, hi) in enumerate(VITALS)
    )
    cols = ", ".join(c for c, *_ in VITALS)

    def uuid_of(expr):
        h = f"md5({expr})"
        return (
            f"substr({h},1,8)||'-'||substr({h},9,4)||'-'||substr({h},13,4)||'-'"
            f"||substr({h},17,4)||'-'||substr({h},21,12)"
        )

    sql = f"""
COPY (
WITH codes(col, name, loinc, display, unit, ucum, lo, hi, ord) AS (VALUES {codes}),
v AS (
  SELECT * FROM read_csv('{csv_dir}/vitals.csv', header=true, all_varchar=true)
),
p AS (
  SELECT patient_id FROM read_csv('{csv_dir}/patients.csv', header=true, all_varchar=true,
                                  encoding='latin-1')
),
kept AS (   -- orphan exclusion: semi-join on patients
  SELECT * FROM v WHERE v.patient_id IN (SELECT patient_id FROM p)
),
long AS (   -- per-value fan-out (UNPIVOT drops NULLs)
  UNPIVOT (SELECT vital_id, visit_id, patient_id, taken_dt, {cols} FROM kept)
  ON {cols} INTO NAME col VALUE raw
),
vals AS (
  SELECT l.*, c.*, TRY_CAST(trim(l.raw) AS DOUBLE) AS num
  FROM long l JOIN codes c USING (col)
  WHERE l.raw IS NOT NULL AND trim(l.raw) <> ''
),
bad AS (    -- exceptions: any present value out of range makes the whole row an exception
  SELECT DISTINCT vital_id FROM vals WHERE num IS NULL OR num < lo OR num > hi
),
dt AS (
  SELECT vals.*, coalesce(
    try_strptime(taken_dt, '%Y-%m-%d %H:%M:%S'),
    try_strptime(taken_dt, '%m/%d/%Y %H:%M:%S'),
    try_strptime(taken_dt, '%m/%d/%Y'),
    try_strptime(taken_dt, '%Y-%m-%d'),
    try_strptime(taken_dt, '%d-%b-%y')) AS ts
  FROM vals WHERE vital_id NOT IN (SELECT vital_id FROM bad)
)
SELECT 'Observation' AS resourceType,
  [{{'coding': [{{'code': 'vital-signs', 'display': 'Vital Signs',
    'system': 'http://terminology.hl7.org/CodeSystem/observation-category'}}]}}] AS category,
  {{'coding': [{{'code': loinc, 'display': display, 'system': 'http://loinc.org'}}],
    'text': display}} AS code,
  strftime(ts, '%Y-%m-%dT%H:%M:%S') || '{OFFSET}' AS effectiveDateTime,
  {{'reference': 'Encounter/' || {uuid_of("'visits/' || visit_id")}}} AS encounter,
  {uuid_of("'vitals/' || vital_id || '/' || name")} AS id,
  'final' AS status,
  {{'reference': 'Patient/' || {uuid_of("'patients/' || patient_id")}}} AS subject,
  {{'code': ucum, 'system': 'http://unitsofmeasure.org', 'unit': unit, 'value': trim(raw)::JSON}}
    AS valueQuantity
FROM dt
) TO '{out}' (FORMAT json)
"""
    con.execute(sql)
    src = con.execute(
        f"SELECT count(*) FROM read_csv('{csv_dir}/vitals.csv', header=true, all_varchar=true)"
    ).fetchone()[0]
    return src


def md5_uuid(s):
    h = hashlib.md5(s.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def pandas_peer(csv_dir, out):
    import pandas as pd

    patients = pd.read_csv(
        f"{csv_dir}/patients.csv",
        usecols=["patient_id"],
        dtype=str,
        encoding="cp1252",
    )["patient_id"]
    known = set(patients)
    cols = [c for c, *_ in VITALS]
    meta = pd.DataFrame(VITALS, columns=["col", "name", "loinc", "display", "unit", "ucum", "lo", "hi"])
    meta["ord"] = range(len(meta))
    src = 0
    resources = 0
    with open(out, "w", encoding="utf-8") as f:
        for chunk in pd.read_csv(f"{csv_dir}/vitals.csv", dtype=str, chunksize=50_000):
            src += len(chunk)
            chunk = chunk[chunk["patient_id"].isin(known)]  # orphan exclusion
            long = chunk.melt(
                id_vars=["vital_id", "visit_id", "patient_id", "taken_dt"],
                value_vars=cols,
                var_name="col",
                value_name="raw",
            )
            long = long[long["raw"].notna() & (long["raw"].str.strip() != "")]
            long = long.merge(meta, on="col")
            long["raw"] = long["raw"].str.strip()
            num = pd.to_numeric(long["raw"], errors="coerce")
            bad = num.isna() | (num < long["lo"]) | (num > long["hi"])
            long = long[~long["vital_id"].isin(set(long.loc[bad, "vital_id"]))]  # exceptions
            # legacy date formats, first that parses wins (vectorised, kinder to pandas than apply)
            ts = pd.to_datetime(long["taken_dt"], format="%Y-%m-%d %H:%M:%S", errors="coerce")
            for fmt in ("%m/%d/%Y %H:%M:%S", "%m/%d/%Y", "%Y-%m-%d", "%d-%b-%y"):
                miss = ts.isna()
                if not miss.any():
                    break
                ts[miss] = pd.to_datetime(long.loc[miss, "taken_dt"], format=fmt, errors="coerce")
            long["eff"] = ts.dt.strftime("%Y-%m-%dT%H:%M:%S") + OFFSET
            long["vid"] = long["vital_id"].astype(int)
            long = long.sort_values(["vid", "ord"])
            ids = [md5_uuid(f"vitals/{v}/{n}") for v, n in zip(long["vital_id"], long["name"])]
            enc = [md5_uuid(f"visits/{v}") for v in long["visit_id"]]
            pat = [md5_uuid(f"patients/{v}") for v in long["patient_id"]]
            line = (
                '{"resourceType":"Observation",' + CAT + ',"code":{"coding":[{"code":"'
                + long["loinc"] + '","display":"' + long["display"]
                + '","system":"http://loinc.org"}],"text":"' + long["display"] + '"},'
                + '"effectiveDateTime":"' + long["eff"] + '",'
                + '"encounter":{"reference":"Encounter/' + pd.Series(enc, index=long.index) + '"},'
                + '"id":"' + pd.Series(ids, index=long.index) + '","status":"final",'
                + '"subject":{"reference":"Patient/' + pd.Series(pat, index=long.index) + '"},'
                + '"valueQuantity":{"code":"' + long["ucum"]
                + '","system":"http://unitsofmeasure.org","unit":"' + long["unit"]
                + '","value":' + long["raw"] + "}}"
            )
            f.write("\n".join(line.tolist()))
            if len(line):
                f.write("\n")
            resources += len(line)
    return src, resources


def main():
    if len(sys.argv) != 4 or sys.argv[1] not in ("duckdb", "pandas"):
        sys.exit("usage: run_peers.py duckdb|pandas CSV_DIR OUT.ndjson")
    tool, csv_dir, out = sys.argv[1:]
    if tool == "duckdb":
        src = duckdb_peer(csv_dir, out)
        with open(out, "rb") as f:
            resources = sum(1 for _ in f)  # counted outside the query, small share of the time
    else:
        src, resources = pandas_peer(csv_dir, out)
    print(json.dumps({"tool": tool, "source_rows": src, "resources": resources}))


if __name__ == "__main__":
    main()
