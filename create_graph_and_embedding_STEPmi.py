"""The published script name for the miRNA embeddings: ``python -m step.embed --dataset mirna``."""
from sys import exit

from step.jobs.cli import embedding_main

if __name__ == "__main__":
    exit(embedding_main(None, "create_graph_and_embedding_STEPmi.py", "configs/mirna.yaml"))
