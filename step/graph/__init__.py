"""Graphs and what is built on them: the per-time-point graphs, the sparse operators, the causal
temporal Node2Vec embeddings (walks, alignment, the embedding job and its cache)."""
