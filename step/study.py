"""``python -m step.study``, the published name of :mod:`step.jobs.study` (a shim)."""
from step.jobs.study import main

if __name__ == "__main__":
    raise SystemExit(main())
