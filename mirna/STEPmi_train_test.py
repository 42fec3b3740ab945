"""Train and evaluate STEPmi on the miRNA-target panel against the baselines.

    python -m mirna.STEPmi_train_test [--config configs/mirna.yaml] [--data CSV] [--out DIR]
        [--seed N] [--seeds N] [--epochs N] [--protocol chronological|paper|rolling] [--device cpu|cuda]
"""
from step.jobs.cli import exit_now, main

if __name__ == "__main__":
    exit_now(main(None, "python -m mirna.STEPmi_train_test", "configs/mirna.yaml", "STEPmi"))
