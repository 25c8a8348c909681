#!/usr/bin/env cwl-runner
cwlVersion: v1.2
class: CommandLineTool
label: Select the cohort rows to analyse
baseCommand: python3
inputs:
  script:
    type: File
    default:
      class: File
      location: scripts/select_rows.py
    inputBinding: {position: 0}
  cohort:
    type: File
    inputBinding: {prefix: --in, position: 1}
  min_age:
    type: int
    inputBinding: {prefix: --min-age, position: 2}
  max_age:
    type: int
    inputBinding: {prefix: --max-age, position: 3}
  outcome:
    type: string
    inputBinding: {prefix: --outcome, position: 4}
  covariates:
    type: string[]
    inputBinding: {prefix: --covariates, itemSeparator: ",", position: 5}
arguments:
  - {prefix: --out, valueFrom: selected.csv, position: 6}
outputs:
  selected:
    type: File
    outputBinding: {glob: selected.csv}
