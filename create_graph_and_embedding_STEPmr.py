"""``python -m step.embed`` with the mRNA default (configs/mrna.yaml); see step/jobs/embed.py."""
import sys

from step.jobs.cli import embedding_main

if __name__ == "__main__":
    sys.exit(embedding_main(None, "create_graph_and_embedding_STEPmr.py", "configs/mrna.yaml"))
