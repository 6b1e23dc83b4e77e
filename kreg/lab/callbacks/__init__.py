"""The lab's callbacks: they need TensorFlow (or Keras internals) and so live outside the core."""

from kreg.lab.callbacks.backup_and_restore import BackupAndRestore
from kreg.lab.callbacks.decision_boundary_logger import DecisionBoundaryLogger

__all__ = ["BackupAndRestore", "DecisionBoundaryLogger"]
