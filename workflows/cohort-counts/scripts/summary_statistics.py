#!/usr/bin/env python3
"""Summary statistics of a cohort CSV's numeric columns: variable,n,mean,sd,p25,median,p75.

No minimum or maximum: single extreme values identify people. Standard library only.
"""
import argparse
import csv
import statistics
import sys

VARIABLES = ["age", "bmi", "systolic_bp", "diastolic_bp", "cholesterol_mmol_l",
             "visits_last_year", "smoker", "diabetes"]


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    a = p.parse_args()
    values = {v: [] for v in VARIABLES}
    with open(a.inp, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = [v for v in VARIABLES if v not in (reader.fieldnames or [])]
        if missing:
            sys.exit("summary_statistics: missing columns: %s" % ", ".join(missing))
        for row in reader:
            for v in VARIABLES:
                if row[v] != "":
                    values[v].append(float(row[v]))
    with open(a.out, "w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["variable", "n", "mean", "sd", "p25", "median", "p75"])
        for v in VARIABLES:
            xs = values[v]
            if len(xs) < 2:
                w.writerow([v, len(xs), "", "", "", "", ""])
                continue
            q = statistics.quantiles(xs, n=4, method="inclusive")
            w.writerow([v, len(xs), "%.4f" % statistics.fmean(xs), "%.4f" % statistics.stdev(xs),
                        "%.4f" % q[0], "%.4f" % q[1], "%.4f" % q[2]])


if __name__ == "__main__":
    main()
