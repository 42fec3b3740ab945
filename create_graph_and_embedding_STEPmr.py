"""Build and cache the per-time-point graphs and causal temporal Node2Vec embeddings (mrna).

    python create_graph_and_embedding_STEPmr.py [--config configs/mrna.yaml] [--data CSV]

Logs graph sizes, the cache file, hit or miss and the time taken; exit status 1 on bad input.
The mrna train/test job reads the same cache, so running this first makes the job start warm.
"""
import sys

from step.cli import embedding_main


def main(argv: list[str] | None = None) -> int:
    return embedding_main(argv, "create_graph_and_embedding_STEPmr.py", "configs/mrna.yaml")


if __name__ == "__main__":
    sys.exit(main())
