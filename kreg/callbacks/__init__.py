"""Keras callbacks that drive and report regularization during `model.fit`."""

from kreg.callbacks.backup_and_restore import BackupAndRestore
from kreg.callbacks.decision_boundary_logger import DecisionBoundaryLogger
from kreg.callbacks.dropout_schedule import DropoutSchedule
from kreg.callbacks.generalization_gap import GeneralizationGap
from kreg.callbacks.l2_schedule import L2Schedule
from kreg.callbacks.regularization_monitor import RegularizationMonitor

__all__ = [
    "BackupAndRestore",
    "DecisionBoundaryLogger",
    "DropoutSchedule",
    "GeneralizationGap",
    "L2Schedule",
    "RegularizationMonitor",
]
