"""``python -m step.summary``, the published name of :mod:`step.outputs.summary` (a shim)."""
from step.outputs.summary import main

if __name__ == "__main__":
    raise SystemExit(main())
