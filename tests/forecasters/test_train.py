"""step.forecasters.train helpers."""
from __future__ import annotations


def test_prediction_batches_shrink_with_the_gene_count():
    """64 windows per prediction batch up to 4,096 genes (small jobs unchanged), fewer above (a
    20,000-gene job's activations), never fewer than one."""
    from step.forecasters.train import predict_batch

    assert predict_batch(50) == predict_batch(4096) == 64
    assert predict_batch(20_000) == 13
    assert predict_batch(10**7) == 1 and predict_batch(0) == 64


def test_training_is_bit_identical_without_the_nan_fill():
    """Deterministic mode's NaN fill of new memory is switched off for speed (a CPU LSTM backward
    allocates a large buffer per layer); no kernel reads unwritten memory, so a STEPmi trained with
    the fill and without it ends with the same weights and the same loss history, bit for bit."""
    import numpy as np
    import torch

    from step.config import LossConfig, TrainConfig
    from step.forecasters.models import STEPmi
    from step.forecasters.train import WindowTensors, seed_everything, train_model

    W, C, L, N = 24, 3, 5, 20
    g = torch.Generator().manual_seed(0)
    x = torch.randn(W, C, L, N, generator=g)
    y = x[:, 0, -1] + 0.3 * torch.randn(W, N, generator=g)
    data = WindowTensors(x, torch.eye(N) * 0.5, y, x[:, 0, -1], x[:, 0], torch.ones(W, N, dtype=torch.bool))
    train_cfg = TrainConfig(epochs=3, patience=10, batch_size=8, lr=0.01)
    get = torch._C._get_deterministic_fill_uninitialized_memory
    setter = torch._C._set_deterministic_fill_uninitialized_memory
    before = get()
    runs = []
    try:
        for fill in (True, False):
            seed_everything(0)
            setter(fill)
            assert get() is fill
            model = STEPmi(C, N, L, hidden=8, n_blocks=1, lstm_layers=2, attn_layers=1, heads=2, dropout=0.0)
            init = model.lstms[0].weight_ih_l0.detach().clone()
            model, hist = train_model(model, data, np.arange(16), np.arange(16, 24), LossConfig(), train_cfg, seed=0)
            runs.append((model.state_dict(), hist))
    finally:
        setter(before)
    (sa, ha), (sb, hb) = runs
    assert ha == hb and any(h["train_loss"] != ha[0]["train_loss"] for h in ha)
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert not torch.equal(sa["lstms.0.weight_ih_l0"], init)  # the LSTM was trained (a later epoch kept)


def test_early_stopping_rule_by_hand():
    """Improvement = below the best by more than 1e-9; stop after ``patience`` epochs without one;
    a NaN never improves; the starting score (epoch 0) competes."""
    from step.forecasters.train import EarlyStopping

    rule = EarlyStopping(2)
    seen = []
    for e, v in enumerate([1.0, 0.9, 0.9 - 1e-12, float("nan"), 0.8], start=1):
        seen.append(rule.update(e, v))
        if rule.stop:
            break
    assert seen == [True, True, False, False] and e == 4 and rule.best_epoch == 2 and rule.best == 0.9
    start = EarlyStopping(1, best=0.5)  # the untrained model's validation score
    assert not start.update(1, 0.6) and start.stop and start.best_epoch == 0
