#!/usr/bin/env python3
"""Ordinary least squares: --outcome ~ intercept + --covariates, from a CSV, by the normal
equations (X'X) b = X'y solved with Gauss-Jordan elimination. Writes the model as JSON and the
coefficient table as CSV. Python 3 standard library only.

Both outputs carry the residual degrees of freedom, n - k, as "df_resid" (a member of the model,
a column of the coefficient table): the airlock's disclosure filter releases a model only when
it has enough of them (a model fitted to barely more people than it has terms nearly restates
their values).

The covariate `sex` is coded 1 for "M" and 0 otherwise (named sex_male in the output); every
other column must be numeric.
"""
import argparse
import csv
import json
import math
import sys

MIN_ROWS = 10  # fewer rows than this is no model worth releasing


def code(column, value):
    if column == "sex":
        return 1.0 if value == "M" else 0.0
    return float(value)


def invert(a):
    """Inverse of a square matrix (list of lists) by Gauss-Jordan with partial pivoting."""
    n = len(a)
    m = [list(row) + [1.0 if i == j else 0.0 for j in range(n)] for i, row in enumerate(a)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(m[r][col]))
        if abs(m[pivot][col]) < 1e-12:
            return None
        m[col], m[pivot] = m[pivot], m[col]
        pv = m[col][col]
        m[col] = [x / pv for x in m[col]]
        for r in range(n):
            if r != col and m[r][col] != 0.0:
                f = m[r][col]
                m[r] = [x - f * y for x, y in zip(m[r], m[col])]
    return [row[n:] for row in m]


def betacf(a, b, x):
    """Continued fraction of the regularised incomplete beta function (modified Lentz)."""
    tiny = 1e-300
    c, d = 1.0, 1.0 - (a + b) * x / (a + 1.0)
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 300):
        m2 = 2 * m
        for aa in (m * (b - m) * x / ((a + m2 - 1.0) * (a + m2)),
                   -(a + m) * (a + b + m) * x / ((a + m2) * (a + m2 + 1.0))):
            d = 1.0 + aa * d
            d = 1.0 / (d if abs(d) > tiny else tiny)
            c = 1.0 + aa / c
            c = c if abs(c) > tiny else tiny
            h *= d * c
        if abs(d * c - 1.0) < 1e-15:
            break
    return h


def betainc(a, b, x):
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    lbeta = math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b)
    front = math.exp(lbeta + a * math.log(x) + b * math.log(1.0 - x))
    if x < (a + 1.0) / (a + b + 2.0):
        return front * betacf(a, b, x) / a
    return 1.0 - front * betacf(b, a, 1.0 - x) / b


def t_two_sided_p(t, df):
    return betainc(df / 2.0, 0.5, df / (df + t * t))


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--in", dest="inp", required=True)
    p.add_argument("--outcome", required=True)
    p.add_argument("--covariates", required=True, help="comma-separated column names")
    p.add_argument("--model", required=True, help="output JSON")
    p.add_argument("--coefficients", required=True, help="output CSV")
    a = p.parse_args()
    covariates = [c for c in a.covariates.split(",") if c]
    if not covariates:
        sys.exit("linear_regression: no covariates")
    if a.outcome in covariates:
        sys.exit("linear_regression: the outcome %s is also a covariate" % a.outcome)
    names = ["intercept"] + ["sex_male" if c == "sex" else c for c in covariates]
    xs, ys = [], []
    with open(a.inp, newline="", encoding="utf-8") as f:
        for row in csv.DictReader(f):
            try:
                xs.append([1.0] + [code(c, row[c]) for c in covariates])
                ys.append(float(row[a.outcome]))
            except (KeyError, ValueError) as e:
                sys.exit("linear_regression: row %d: %s" % (len(ys) + 2, e))
    n, k = len(ys), len(names)
    if n < max(MIN_ROWS, k + 1):
        sys.exit("linear_regression: too few rows (%d) for %d coefficients; need at least %d"
                 % (n, k, max(MIN_ROWS, k + 1)))
    xtx = [[sum(x[i] * x[j] for x in xs) for j in range(k)] for i in range(k)]
    xty = [sum(x[i] * y for x, y in zip(xs, ys)) for i in range(k)]
    inv = invert(xtx)
    if inv is None:
        sys.exit("linear_regression: the covariates are collinear (X'X is singular)")
    beta = [sum(inv[i][j] * xty[j] for j in range(k)) for i in range(k)]
    fitted = [sum(b * v for b, v in zip(beta, x)) for x in xs]
    rss = sum((y - f) ** 2 for y, f in zip(ys, fitted))
    mean_y = sum(ys) / n
    tss = sum((y - mean_y) ** 2 for y in ys)
    df = n - k
    sigma2 = rss / df
    r2 = 1.0 - rss / tss if tss > 0 else 0.0
    coefficients = []
    for i, name in enumerate(names):
        se = math.sqrt(max(sigma2 * inv[i][i], 0.0))
        t = beta[i] / se if se > 0 else float("inf")
        coefficients.append({
            "term": name,
            "estimate": round(beta[i], 6),
            "std_error": round(se, 6),
            "t_value": round(t, 4),
            "p_value": float("%.4g" % t_two_sided_p(t, df)) if se > 0 else 0.0,
        })
    model = {
        "model": "linear regression (ordinary least squares)",
        "formula": "%s ~ %s" % (a.outcome, " + ".join(names[1:])),
        "outcome": a.outcome,
        "n": n,
        "df_resid": df,
        "r_squared": round(r2, 6),
        "adj_r_squared": round(1.0 - (1.0 - r2) * (n - 1) / df, 6),
        "residual_std_error": round(math.sqrt(sigma2), 6),
        "coefficients": coefficients,
    }
    with open(a.model, "w", encoding="utf-8") as g:
        json.dump(model, g, indent=2)
        g.write("\n")
    with open(a.coefficients, "w", newline="", encoding="utf-8") as g:
        w = csv.writer(g, lineterminator="\n")
        w.writerow(["term", "estimate", "std_error", "t_value", "p_value", "df_resid"])
        for c in coefficients:
            w.writerow([c["term"], c["estimate"], c["std_error"], c["t_value"], c["p_value"], df])
    print("linear_regression: %s, n=%d, R^2=%.4f" % (model["formula"], n, r2), file=sys.stderr)


if __name__ == "__main__":
    main()
