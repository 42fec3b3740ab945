"""The one door for input: :func:`load_course` reads an interaction CSV or a dataset folder and
checks it, for every entry point (train/test jobs, ablations, tuning, the embedding scripts,
benchmarks), so that a check added here protects them all."""
from __future__ import annotations

from pathlib import Path

from step.config import DataConfig
from step.data.course import GeneTimeCourse, check_range, check_transform
from step.data.interaction_csv import read_interaction_csv
from step.data.dataset_dir import load_dataset_dir

__all__ = ["load_course"]


def load_course(path: str | Path, cfg: DataConfig | None = None) -> GeneTimeCourse:
    """Read and validate an interaction CSV (:func:`step.data.interaction_csv.read_interaction_csv`) or a dataset
    folder (:func:`step.data.dataset_dir.load_dataset_dir`), then check that its values fit
    ``cfg.transform`` (:func:`step.data.course.check_transform`: log1p refuses negative values) and lie in
    a plausible range (:func:`step.data.course.check_range`).

    Raises
    ------
    InputError naming the file, the row/column and the rule broken.
    """
    cfg = cfg or DataConfig()
    p = Path(path)
    course = load_dataset_dir(p, cfg) if p.is_dir() else read_interaction_csv(p, cfg)
    check_range(course, cfg.max_abs_value, path)
    check_transform(course.X, cfg.transform, path)
    return course
