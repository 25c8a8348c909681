#!/usr/bin/env python3
"""Counts a cohort CSV by age band and sex: age_band,sex,count, every band x sex (zeros too).

--bands 18,30,45,60,75 gives the bands 18-29, 30-44, 45-59, 60-74 and 75+; ages below the first
edge are left out. Standard library only.
"""
import argparse
import csv
import sys

SEXES = ["F", "M"]


def parse_bands(text):
    try:
        edges = [int(x) for x in text.split(",") if x.strip() != ""]
    except ValueError:
        sys.exit("count_by_age_sex: --bands must be integers separated by commas, got %r" % text)
    if not edges:
        sys.exit("count_by_age_sex: --bands is empty")
    if any(b <= a for a, b in zip(edges, edges[1:])):
        sys.exit("count_by_age_sex: age band edges must be strictly ascending, got %s" % edges)
    labels = ["%d-%d" % (a, b - 1) for a, b in zip(edges, edges[1:])]
    labels.append("%d+" % edges[-1])
    return edges, labels


def band_of(age, edges):
    band = None
    for i, edge in enumerate(edges):
        if age >= edge:
            band = i
    return band


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--out", required=True)
    p.add_argument("--bands", required=True)
    a = p.parse_args()
    edges, labels = parse_bands(a.bands)
    counts = {(label, sex): 0 for label in labels for sex in SEXES}
    outside = 0
    with open(a.inp, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            band = band_of(int(row["age"]), edges)
            if band is None or row["sex"] not in SEXES:
                outside += 1
                continue
            counts[(labels[band], row["sex"])] += 1
    with open(a.out, "w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["age_band", "sex", "count"])
        for label in labels:
            for sex in SEXES:
                w.writerow([label, sex, counts[(label, sex)]])
    print("count_by_age_sex: %d rows counted, %d outside the bands"
          % (sum(counts.values()), outside), file=sys.stderr)


if __name__ == "__main__":
    main()
