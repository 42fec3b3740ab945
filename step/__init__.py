"""STEP: spatio-temporal expression prediction from Hi-C informed gene graphs."""
from step.procs import torch_huge_pages as _torch_huge_pages

__version__ = "0.1.0"

_torch_huge_pages()  # before anything imports torch (it reads the setting once)
