"""STEP: spatio-temporal expression prediction from Hi-C informed gene graphs."""
__version__ = "0.1.0"
