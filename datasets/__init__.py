"""Dataset loaders, importable as `kreg.datasets`."""

from kreg.datasets.football import football_path, load_football, synthetic_football

__all__ = ["football_path", "load_football", "synthetic_football"]
