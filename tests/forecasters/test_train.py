"""step.forecasters.train helpers."""
from __future__ import annotations


def test_prediction_batches_shrink_with_the_gene_count():
    """64 windows per prediction batch up to 4,096 genes (small jobs unchanged), fewer above (a
    20,000-gene job's activations), never fewer than one."""
    from step.forecasters.train import predict_batch

    assert predict_batch(50) == predict_batch(4096) == 64
    assert predict_batch(20_000) == 13
    assert predict_batch(10**7) == 1 and predict_batch(0) == 64
