"""step.io.write_csv: what pandas reads back is the table that was written, atomically."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from step.io import write_csv


def test_write_csv_round_trips_numbers_text_and_missing_values(tmp_path):
    df = pd.DataFrame({"model": ["STEPmr", "ets", "ets"], "seed": [0, 1, 2],
                       "gene": ['a,"b', "Ager (RAGE)", "x\ny"],
                       "y": [0.1 + 0.2, np.nan, -0.0], "big": [1e22, 123456789012.5, 1e-7]})
    p = write_csv(tmp_path / "t.csv", df)
    back = pd.read_csv(p, float_precision="round_trip")  # pandas' default parser rounds the last digit
    pd.testing.assert_frame_equal(back, df, check_exact=True)
    assert not list(tmp_path.glob(".*"))  # no temporary file left


def test_write_csv_keeps_the_old_file_when_writing_fails(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("old\n")

    class Bad(pd.DataFrame):
        def to_csv(self, *a, **k):
            raise OSError("disk full")

    bad = Bad({"a": [object()]})  # pyarrow cannot type an arbitrary object: the pandas writer runs and fails
    with pytest.raises(OSError):
        write_csv(p, bad)
    assert p.read_text() == "old\n"
