"""Dataset loaders, importable as `kreg.datasets`."""

from kreg.datasets.cifar10 import CIFAR10_CLASSES, load_cifar10, read_batch
from kreg.datasets.football import football_path, load_football, synthetic_football
from kreg.datasets.splits import split_validation

__all__ = [
    "CIFAR10_CLASSES",
    "football_path",
    "load_cifar10",
    "load_football",
    "read_batch",
    "split_validation",
    "synthetic_football",
]
