"""The run configuration: the choice policy in its own section, older configs still read."""
from __future__ import annotations

import logging

import pytest

from step.config import MOVED_TO_SELECTION, SelectionConfig, TrainConfig, load_config
from step.errors import InputError


def test_the_choice_policy_lives_in_selection_not_train():
    train = {f for f in TrainConfig.__dataclass_fields__}
    assert not train & set(MOVED_TO_SELECTION), "a moved setting is still a train field"
    assert set(MOVED_TO_SELECTION.values()) <= set(SelectionConfig.__dataclass_fields__)  # new settings may follow


def test_an_older_config_with_the_policy_under_train_is_read_with_a_warning(tmp_path, caplog):
    p = tmp_path / "old.yaml"
    p.write_text("train:\n  epochs: 3\n  selection: best\n  selection_z: 3.5\n  global_bases: [global_linear]\n")
    with caplog.at_level(logging.WARNING, logger="step.config"):
        cfg = load_config(p)
    assert cfg.train.epochs == 3
    assert cfg.selection.rule == "best" and cfg.selection.z == 3.5 and cfg.selection.global_bases == ["global_linear"]
    assert "train.selection_z is now selection.z" in caplog.text
    # the command line's old names too; the new name wins where both are given
    cfg = load_config(p, {"train.linear_init": False, "selection.z": 1.0})
    assert cfg.selection.linear_init is False and cfg.selection.z == 1.0
    with pytest.raises(InputError, match="selection.rule = 'maybe'"):
        load_config(p, {"train.selection": "maybe"})


@pytest.mark.parametrize("key,value", [("selection.blend_equal_shares", [1.5]), ("selection.blend_equal_shares", []),
                                       ("selection.blend_equal_shares", "half"),
                                       ("evaluation.interval_adapt_rate", -0.1), ("evaluation.interval_adapt_rate", 1.0),
                                       ("evaluation.interval_adapt_rate", "fast")])
def test_bad_shrinkage_or_adaptation_settings_are_clear_errors(key, value):
    with pytest.raises(InputError, match=key.replace(".", r"\.")):
        load_config(None, {key: value})
