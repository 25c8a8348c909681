#!/usr/bin/env cwl-runner
# cohort-regression: selects the patients of a cohort CSV by age, then fits a linear regression
# of one outcome on a few covariates (ordinary least squares, Python 3 standard library only).
# Run with cwltool --no-container (the tools need only python3 from the environment).
cwlVersion: v1.2
class: Workflow
label: Linear regression on a synthetic patient cohort
doc: |
  Step select: keeps the rows with min_age <= age <= max_age and no missing value in the
  outcome or covariates. Step regress: fits outcome ~ covariates by ordinary least squares and
  writes regression_model.json (coefficients, standard errors, t values, n, R squared, residual
  standard error) and coefficients.csv.

inputs:
  cohort:
    type: File
    doc: The cohort CSV (generate_cohort.py columns).
  min_age:
    type: int
    default: 18
  max_age:
    type: int
    default: 200
  outcome:
    type: string
    default: systolic_bp
  covariates:
    type: string[]
    default: [age, bmi, smoker]

outputs:
  model:
    type: File
    outputSource: regress/model
  coefficients:
    type: File
    outputSource: regress/coefficients

steps:
  select:
    run: select.cwl
    in:
      cohort: cohort
      min_age: min_age
      max_age: max_age
      outcome: outcome
      covariates: covariates
    out: [selected]
  regress:
    run: regress.cwl
    in:
      data: select/selected
      outcome: outcome
      covariates: covariates
    out: [model, coefficients]
