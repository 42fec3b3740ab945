"""The multi-component training loss under its published name: :mod:`step.forecasters.losses`
(a shim)."""
from step.forecasters.losses import COMPONENTS, step_loss

__all__ = ["step_loss", "COMPONENTS"]
