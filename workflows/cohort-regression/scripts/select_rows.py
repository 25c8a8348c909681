#!/usr/bin/env python3
"""Keeps the cohort rows with --min-age <= age <= --max-age that have a value for the outcome
and every covariate; writes only those columns. Standard library only."""
import argparse
import csv
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--min-age", type=int, default=0)
    p.add_argument("--max-age", type=int, default=200)
    p.add_argument("--outcome", required=True)
    p.add_argument("--covariates", required=True, help="comma-separated column names")
    a = p.parse_args()
    covariates = [c for c in a.covariates.split(",") if c]
    columns = [a.outcome] + [c for c in covariates if c != a.outcome]
    if "age" not in columns:
        columns.append("age")
    kept = total = 0
    with open(a.inp, newline="", encoding="utf-8") as f, \
            open(a.out, "w", newline="", encoding="utf-8") as g:
        reader = csv.DictReader(f)
        missing = [c for c in columns if c not in (reader.fieldnames or [])]
        if missing:
            sys.exit("select_rows: %s has no column %s" % (a.inp, ", ".join(missing)))
        writer = csv.DictWriter(g, fieldnames=columns, extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        for row in reader:
            total += 1
            if any(row[c] == "" for c in columns):
                continue
            if a.min_age <= int(row["age"]) <= a.max_age:
                writer.writerow(row)
                kept += 1
    print("select_rows: kept %d of %d rows" % (kept, total), file=sys.stderr)


if __name__ == "__main__":
    main()
