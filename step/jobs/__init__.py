"""The commands: one job's pipeline and its forecasts, the ablation, the study, tuning and the
embedding job's command line (the published ``python -m step.X`` names are shims over these)."""
