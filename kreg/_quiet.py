"""Importing TensorFlow without its C++ start-up log spam.

TensorFlow's C++ runtime writes lines such as "Could not find cuda drivers"
and "failed call to cuInit" straight to file descriptor 2 while it loads and
probes devices, before `TF_CPP_MIN_LOG_LEVEL` takes effect. kreg sends that
descriptor to a temporary file for the import and the device probe only, and
replays what was captured if the import fails, so real errors are never lost.
Set `KREG_TF_LOGS=1` to see everything.
"""

from __future__ import annotations

import os
import sys
import tempfile


def import_tensorflow_quietly() -> None:
    if "tensorflow" in sys.modules or os.environ.get("KREG_TF_LOGS") == "1":
        return
    try:
        sys.stderr.flush()
        saved = os.dup(2)
    except (OSError, ValueError):  # no real stderr (some notebooks): nothing to hide
        return
    with tempfile.TemporaryFile() as capture:
        os.dup2(capture.fileno(), 2)
        try:
            import tensorflow as tf

            tf.config.list_physical_devices()
        except BaseException:
            os.dup2(saved, 2)
            capture.seek(0)
            sys.stderr.write(capture.read().decode(errors="replace"))
            raise
        finally:
            os.dup2(saved, 2)
            os.close(saved)


class _RetracingFilter:
    def __init__(self, function_name: str):
        self.function_name = function_name

    def filter(self, record) -> bool:
        message = record.getMessage()
        return not ("triggered tf.function retracing" in message and self.function_name in message)


def ignore_retracing_warning(function_name: str) -> None:
    """Drop TensorFlow's "frequent retracing" warning about one function, once per process.

    TensorFlow counts traces per Python function, so the same function
    compiled for several models (kreg's full-batch loop, Keras's predict step
    of each variant) reads to it as retracing, and it warns about a cost that
    is the normal one-trace-per-model.
    """
    import tensorflow as tf

    logger = tf.get_logger()
    if not any(getattr(f, "function_name", None) == function_name for f in logger.filters):
        logger.addFilter(_RetracingFilter(function_name))
