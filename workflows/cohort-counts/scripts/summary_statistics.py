#!/usr/bin/env python3
"""Summary statistics of a cohort CSV's numeric columns: variable,n,mean,sd (a mean table),
and its disclosure evidence sidecar.

Only the mean and the standard deviation are written. No minimum, maximum or quantiles: those
are single values of a group (a quartile of a small group, the median of three people) and
each discloses a person's value. Means and standard deviations of fewer than 2 values are left
empty for the same reason; the airlock's disclosure filter still checks every cell against its
threshold and dominance rules.

The evidence sidecar (schemas/disclosure/evidence.schema.json) says who contributed to each
cell, which the table cannot: for each variable (data row) and each statistics column (mean,
sd), n, the sum of the contributions' absolute values, the largest absolute contributions in
descending order (five at most) and how many contributions are negative. A person's
contribution to a variable's mean and sd is their value. The sidecar stays in the zone: the
airlock reads it and never releases it.

Standard library only.
"""
import argparse
import csv
import json
import statistics
import sys

VARIABLES = ["age", "bmi", "systolic_bp", "diastolic_bp", "cholesterol_mmol_l",
             "visits_last_year", "smoker", "diabetes"]
STATISTICS = ["mean", "sd"]
TOP = 5  # largest contributions listed per cell


def evidence_cell(row, column, xs):
    """The evidence of one cell: the contributions of `xs` to the statistic in `column`."""
    magnitudes = sorted((abs(x) for x in xs), reverse=True)
    return {
        "row": row,
        "column": column,
        "n": len(xs),
        "sum": round(sum(magnitudes), 6),
        "largest": [round(m, 6) for m in magnitudes[:TOP]],
        "negatives": sum(1 for x in xs if x < 0),
    }


def main():
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True, help="the mean table (CSV)")
    p.add_argument("--evidence", required=True, help="the evidence sidecar (JSON)")
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
    cells = []
    with open(a.out, "w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["variable", "n"] + STATISTICS)
        for row, v in enumerate(VARIABLES):
            xs = values[v]
            if len(xs) < 2:
                w.writerow([v, len(xs), "", ""])
            else:
                w.writerow([v, len(xs), "%.4f" % statistics.fmean(xs),
                            "%.4f" % statistics.stdev(xs)])
            for column in STATISTICS:
                cells.append(evidence_cell(row, column, xs))
    with open(a.evidence, "w", encoding="utf-8") as g:  # one cell a line
        g.write('{"version": 1, "cells": [\n')
        g.write(",\n".join(json.dumps(c) for c in cells))
        g.write("\n]}\n")


if __name__ == "__main__":
    main()
