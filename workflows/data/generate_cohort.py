#!/usr/bin/env python3
"""Writes a synthetic patient cohort as CSV. Deterministic: the same --rows and --seed give
the same bytes on every platform (Python 3's random.Random with an integer seed is stable).

Every row is invented; no real person is behind any of them. The distributions are only
roughly plausible for an adult population, with a few built-in relations so that the example
workflows have something to find: blood pressure rises with age, BMI and smoking; diabetes is
more likely with age and BMI.

Columns: patient_id, age, sex, region, bmi, systolic_bp, diastolic_bp, smoker, diabetes,
cholesterol_mmol_l, visits_last_year.

Usage: generate_cohort.py --rows 500 --seed 42 --out cohort.csv
Python 3 standard library only.
"""

import argparse
import csv
import math
import random
import sys

COLUMNS = [
    "patient_id", "age", "sex", "region", "bmi", "systolic_bp", "diastolic_bp", "smoker",
    "diabetes", "cholesterol_mmol_l", "visits_last_year",
]
REGIONS = [("north", 0.22), ("south", 0.31), ("east", 0.19), ("west", 0.28)]


def clamp(x, lo, hi):
    return max(lo, min(hi, x))


def weighted_choice(rng, pairs):
    r = rng.random()
    acc = 0.0
    for value, weight in pairs:
        acc += weight
        if r < acc:
            return value
    return pairs[-1][0]


def poisson(rng, lam):
    # Knuth's method; fine for the small means used here.
    limit = math.exp(-lam)
    k, p = 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def make_row(rng, index):
    age = int(round(clamp(rng.gauss(52, 16), 18, 95)))
    sex = "F" if rng.random() < 0.51 else "M"
    region = weighted_choice(rng, REGIONS)
    bmi = clamp(rng.lognormvariate(math.log(26.5), 0.16), 15.0, 55.0)
    smoker = 1 if rng.random() < (0.22 if age < 60 else 0.14) else 0
    logit = -5.0 + 0.045 * age + 0.11 * (bmi - 25.0)
    diabetes = 1 if rng.random() < 1.0 / (1.0 + math.exp(-logit)) else 0
    systolic = (100.0 + 0.45 * age + 0.9 * (bmi - 25.0) + 4.0 * smoker + 3.0 * diabetes
                + (2.5 if sex == "M" else 0.0) + rng.gauss(0, 11))
    systolic = clamp(systolic, 85, 220)
    diastolic = clamp(0.55 * systolic + 8.0 + rng.gauss(0, 6), 50, 130)
    cholesterol = clamp(rng.gauss(4.6 + 0.012 * age, 0.9), 2.0, 10.0)
    visits = poisson(rng, 1.5 + 0.03 * max(0, age - 40) + 1.5 * diabetes)
    return {
        "patient_id": "SYN-%06d" % index,
        "age": age,
        "sex": sex,
        "region": region,
        "bmi": "%.1f" % bmi,
        "systolic_bp": int(round(systolic)),
        "diastolic_bp": int(round(diastolic)),
        "smoker": smoker,
        "diabetes": diabetes,
        "cholesterol_mmol_l": "%.2f" % cholesterol,
        "visits_last_year": visits,
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description="Write a synthetic patient cohort (CSV).")
    parser.add_argument("--rows", type=int, default=500, help="number of patients (default 500)")
    parser.add_argument("--seed", type=int, default=42, help="random seed (default 42)")
    parser.add_argument("--out", default="-", help="output file ('-' for stdout, the default)")
    args = parser.parse_args(argv)
    if args.rows < 0:
        parser.error("--rows must be >= 0")
    rng = random.Random(args.seed)
    out = sys.stdout if args.out == "-" else open(args.out, "w", newline="", encoding="utf-8")
    try:
        writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
        writer.writeheader()
        for i in range(1, args.rows + 1):
            writer.writerow(make_row(rng, i))
    finally:
        if out is not sys.stdout:
            out.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
