"""Keras callbacks that drive and report regularization during `model.fit`, on every backend.

The resumable `BackupAndRestore` and the TensorBoard `DecisionBoundaryLogger`
need TensorFlow and live in `kreg.lab.callbacks` (`pip install "kreg[tensorflow]"`).
"""

from kreg.callbacks.dropout_schedule import DropoutSchedule
from kreg.callbacks.generalization_gap import GeneralizationGap
from kreg.callbacks.l2_schedule import L2Schedule
from kreg.callbacks.regularization_monitor import RegularizationMonitor
from kreg.callbacks.stochastic_weight_averaging import StochasticWeightAveraging

__all__ = [
    "DropoutSchedule",
    "GeneralizationGap",
    "L2Schedule",
    "RegularizationMonitor",
    "StochasticWeightAveraging",
]
