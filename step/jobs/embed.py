"""Build and cache the per-time-point graphs and causal temporal Node2Vec embeddings.

    python -m step.embed [--dataset NAME | --config CONFIG] [--data CSV|DIR] [--seed N] [--processes N]

``--dataset mrna`` reads ``configs/mrna.yaml`` (any shipped config: mirna, yeast, mrna_corrected,
...). Logs graph sizes, the cache file, hit or miss and the time taken; exit status 1 on bad input.
The train/test job of the same config reads the same cache, so running this first makes it start
warm. ``create_graph_and_embedding_STEPmr.py`` / ``..._STEPmi.py`` are this command with the
mRNA / miRNA default.
"""
import sys

from step.jobs.cli import embedding_main


def main() -> int:
    """``python -m step.embed``: the command line of :func:`step.jobs.cli.embedding_main`."""
    return embedding_main(None, "python -m step.embed", "configs/mrna.yaml")


if __name__ == "__main__":
    sys.exit(main())
