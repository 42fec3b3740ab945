"""``python -m step.hic_test``, the published name of :mod:`step.evaluation.hic_test` (a shim)."""
from step.evaluation.hic_test import main

if __name__ == "__main__":
    raise SystemExit(main())
