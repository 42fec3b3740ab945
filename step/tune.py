"""``python -m step.tune``, the published name of :mod:`step.jobs.tune` (a shim)."""
from step.jobs.tune import main

if __name__ == "__main__":
    raise SystemExit(main())
