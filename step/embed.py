"""``python -m step.embed``, the published name of :mod:`step.jobs.embed` (a shim)."""
from step.jobs.embed import main

if __name__ == "__main__":
    raise SystemExit(main())
