"""``python -m step.analyze``, the published name of :mod:`step.outputs.analyze` (a shim)."""
from step.outputs.analyze import main

if __name__ == "__main__":
    raise SystemExit(main())
