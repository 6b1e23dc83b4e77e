"""Who this process is in a distributed sweep, and the chief's oracle service."""

from __future__ import annotations

import os
import time

from kreg.lab._compat import serve_keras_tuner_oracle

__all__ = ["is_chief", "is_worker", "serve_oracle"]


def _distributed() -> bool:
    # KerasTuner's rule: a chief oracle exists when KERASTUNER_ORACLE_IP is set.
    if "KERASTUNER_ORACLE_IP" not in os.environ:
        return False
    for name in ("KERASTUNER_ORACLE_PORT", "KERASTUNER_TUNER_ID"):
        if name not in os.environ:
            raise RuntimeError(f"KERASTUNER_ORACLE_IP is set but {name} is not; set both.")
    return True


def is_chief() -> bool:
    """This process serves the oracle (`KERASTUNER_TUNER_ID` contains "chief")."""
    return _distributed() and "chief" in os.environ["KERASTUNER_TUNER_ID"]


def is_worker() -> bool:
    """This process asks a chief for trials."""
    return _distributed() and not is_chief()


def serve_oracle(oracle, poll: float = 0.5) -> None:
    """Serve `oracle` to the workers until the search ends, checking every `poll` s."""
    address = f"{os.environ['KERASTUNER_ORACLE_IP']}:{os.environ['KERASTUNER_ORACLE_PORT']}"
    server, done = serve_keras_tuner_oracle(oracle, address)
    try:
        while not done():
            time.sleep(poll)
    finally:
        server.stop(grace=1.0)
