"""Evaluation: metrics with bootstrap CIs, thresholds, paired tests, plots, comparisons.

Modules, one idea each:
  metrics      metric definitions (vectorised over resamples) and their bootstrap CIs
  bootstrap    the paired percentile bootstrap shared by metrics and stats
  thresholds   choosing a decision threshold on the valid split
  stats        paired tests between two models on the same samples
  predictions  which models are evaluated, aligned on one test split (the file format: io/predictions.py)
  curves       plot data: ROC, PR, confusion, calibration
  verdicts     CI-aware wording of "does model A beat model B"
  report       what the evaluate stage computes and prints (stages/evaluate.py runs it)
  compare      `streamguard compare`: paired tests between two revisions
  errors       EvaluationError, the one error type raised here
"""
