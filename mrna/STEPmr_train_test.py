"""Train and evaluate STEPmr on the mRNA panel against the baselines.

    python -m mrna.STEPmr_train_test [--config configs/mrna.yaml] [--data CSV] [--out DIR]
        [--seed N] [--seeds N] [--epochs N] [--protocol chronological|paper|rolling] [--device cpu|cuda]
"""
from step.jobs.cli import exit_now, main

if __name__ == "__main__":
    exit_now(main(None, "python -m mrna.STEPmr_train_test", "configs/mrna.yaml", "STEPmr"))
