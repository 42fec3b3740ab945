"""The logging set-up of every command line (one format, quiet third-party loggers)."""
from __future__ import annotations

import logging


def setup_logging(verbose: bool = False) -> None:
    """INFO (DEBUG with ``verbose``) to stderr as ``HH:MM:SS LEVEL logger: message``."""
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    for noisy in ("gensim", "matplotlib", "PIL", "fontTools", "numba", "h5py", "cooler", "asyncio"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
