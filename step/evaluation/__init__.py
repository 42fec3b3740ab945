"""Scoring forecasts: metrics, the verdicts with their uncertainty, conformal intervals, the
evaluation stage of a job and the model-independent Hi-C information test."""
