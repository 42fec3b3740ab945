"""Build and cache the per-time graphs and causal temporal Node2Vec embeddings (mrna).

``python create_graph_and_embedding_STEPmr.py [--config configs/mrna.yaml] [--data CSV]``
Logs graph sizes, the cache file, hit or miss and the time taken; exit status 1 on bad input.
"""
from __future__ import annotations

import argparse
import logging
import sys

from step.embeddings import build_embedding_cache
from step.errors import InputError

log = logging.getLogger("create_graph_and_embedding_STEPmr")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/mrna.yaml", help="YAML run config")
    parser.add_argument("--data", default=None, help="interaction CSV (overrides data.path)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s: %(message)s")
    try:
        build_embedding_cache(args.config, args.data)
    except InputError as exc:
        log.error("%s", exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
