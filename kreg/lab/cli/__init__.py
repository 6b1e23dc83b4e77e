"""The `kreg` command's subcommands: `convert`, `inspect`, `predict` and `sweep`.

Each module has `run(args)`; the parser and the dispatch are in the top-level
`kreg_cli` module, which answers `--help` without importing TensorFlow.
"""

from kreg_cli import main

__all__ = ["main"]
