"""Optimizers that rewrite parameters from their textual gradients."""

from afnio.optim.optimizer import Optimizer
from afnio.optim.tgd import TGD, ParameterUpdate, StepRecord, tgd

__all__ = ["TGD", "Optimizer", "ParameterUpdate", "StepRecord", "tgd"]
