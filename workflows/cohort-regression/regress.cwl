#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Ordinary least squares regression
baseCommand: python3
inputs:
  script:
    type: File
    default:
      class: File
      location: scripts/linear_regression.py
    inputBinding: {position: 0}
  data:
    type: File
    inputBinding: {prefix: --in, position: 1}
  outcome:
    type: string
    inputBinding: {prefix: --outcome, position: 2}
  covariates:
    type: string[]
    inputBinding: {prefix: --covariates, itemSeparator: ",", position: 3}
arguments:
  - {prefix: --model, valueFrom: regression_model.json, position: 4}
  - {prefix: --coefficients, valueFrom: coefficients.csv, position: 5}
outputs:
  model:
    type: File
    outputBinding: {glob: regression_model.json}
  coefficients:
    type: File
    outputBinding: {glob: coefficients.csv}
