"""kreg's experiment lab: full-batch engines, experiment runners, sweeps, TensorBoard tools.

The lab is built on the core (`kreg.layers`, `kreg.regularizers`,
`kreg.callbacks`, ...) and needs what the core does not: TensorFlow and
TensorBoard (`pip install "kreg[tensorflow]"`), KerasTuner for sweeps
(`pip install "kreg[sweep]"`), and Keras's TensorFlow backend. kreg's own
scripts and CLI call `kreg_cli.prepare_environment()` as their first
statement, before Keras is imported (it sets `KERAS_BACKEND=tensorflow` and
imports TensorFlow without its C++ log lines); a user's program that imports
the lab must run with `KERAS_BACKEND=tensorflow`. The core never touches the
environment.
"""

import importlib.util

if importlib.util.find_spec("tensorflow") is None:
    raise ImportError(
        "kreg.lab needs TensorFlow, which is not installed. Install the lab's extra: "
        'pip install "kreg[tensorflow]"'
    )

import keras  # noqa: E402

if keras.backend.backend() != "tensorflow":
    raise ImportError(
        "kreg.lab runs on Keras's TensorFlow backend only; this process uses "
        f"backend={keras.backend.backend()!r}. Set KERAS_BACKEND=tensorflow before importing "
        "Keras (the core: `kreg.layers`, `kreg.callbacks`, `kreg.metrics` work on every backend)."
    )
