"""Every baseline, library peer and model behind one interface and registry
(:mod:`step.forecasters.registry`, re-exported here), with their numerics, layers, training and
losses."""
from step.forecasters.registry import (BASELINE_NAMES, GLOBAL, PEERS, REGISTRY, FitData, Forecaster, GlobalCache,
                                       JobContext, enabled_names, fit_all, register)

__all__ = ["FitData", "JobContext", "Forecaster", "REGISTRY", "register", "GlobalCache", "fit_all",
           "enabled_names", "BASELINE_NAMES", "PEERS", "GLOBAL"]
