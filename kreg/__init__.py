"""kreg: regularizing neural networks with Keras 3, on every backend.

L2 weight penalties, inverted dropout, DropBlock and stochastic depth,
dropout and L2 schedules, stochastic weight averaging, sharpness-aware
minimization, label smoothing for integer labels, calibration metrics and
Monte Carlo dropout, written in
`keras.ops`: they run on the TensorFlow, JAX and PyTorch backends. `import
kreg` registers every serializable kreg class with Keras (so
`keras.models.load_model` reads models that use them in `safe_mode`); it
chooses no backend and sets no environment variable.

The experiment lab built on this core (full-batch engines, experiment
runners, sweeps, TensorBoard tools, the `kreg` command) is `kreg.lab`; it
needs TensorFlow: `pip install "kreg[tensorflow]"`.
"""

__version__ = "0.3.0"

# Registration with Keras happens when these modules are imported.
from kreg import calibration, callbacks, layers, losses, metrics, regularizers, swa  # noqa: F401
from kreg.mc_dropout import mc_predict
from kreg.sam import SAM, SharpnessAwareMinimization

__all__ = [
    "SAM",
    "SharpnessAwareMinimization",
    "calibration",
    "callbacks",
    "layers",
    "losses",
    "mc_predict",
    "metrics",
    "regularizers",
    "swa",
]
