"""Train and evaluate STEPmr on the mRNA panel against the baselines.

    python -m mrna.STEPmr_train_test [--config configs/mrna.yaml] [--data CSV] [--out DIR]
        [--seed N] [--seeds N] [--epochs N] [--protocol chronological|paper|rolling] [--device cpu|cuda]
"""
import sys

from step.cli import main

if __name__ == "__main__":
    sys.exit(main(None, "python -m mrna.STEPmr_train_test", "configs/mrna.yaml", "STEPmr"))
