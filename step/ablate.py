"""``python -m step.ablate``, the published name of :mod:`step.jobs.ablate` (a shim)."""
from step.jobs.ablate import main

if __name__ == "__main__":
    raise SystemExit(main())
