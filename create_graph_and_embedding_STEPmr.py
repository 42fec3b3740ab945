"""``python -m step.embed`` with the mRNA default (configs/mrna.yaml); see step/embed.py."""
import sys

from step.cli import embedding_main

if __name__ == "__main__":
    sys.exit(embedding_main(None, "create_graph_and_embedding_STEPmr.py", "configs/mrna.yaml"))
