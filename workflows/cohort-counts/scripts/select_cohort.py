#!/usr/bin/env python3
"""Keeps the rows of a cohort CSV whose age lies in [--min-age, --max-age]. Standard library only."""
import argparse
import csv
import sys


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--min-age", type=int, default=0)
    p.add_argument("--max-age", type=int, default=200)
    a = p.parse_args()
    if a.min_age > a.max_age:
        sys.exit("select_cohort: min_age %d is greater than max_age %d" % (a.min_age, a.max_age))
    kept = total = 0
    with open(a.inp, newline="", encoding="utf-8") as f, \
            open(a.out, "w", newline="", encoding="utf-8") as g:
        reader = csv.DictReader(f)
        if reader.fieldnames is None or "age" not in reader.fieldnames:
            sys.exit("select_cohort: %s has no 'age' column" % a.inp)
        writer = csv.DictWriter(g, fieldnames=reader.fieldnames, lineterminator="\n")
        writer.writeheader()
        for row in reader:
            total += 1
            try:
                age = int(row["age"])
            except ValueError:
                sys.exit("select_cohort: row %d: bad age %r" % (total, row["age"]))
            if a.min_age <= age <= a.max_age:
                writer.writerow(row)
                kept += 1
    print("select_cohort: kept %d of %d rows" % (kept, total), file=sys.stderr)


if __name__ == "__main__":
    main()
