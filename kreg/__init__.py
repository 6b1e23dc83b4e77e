"""kreg: regularizing neural networks with Keras 3, on every backend.

L2 weight penalties, inverted dropout and DropBlock, dropout and L2
schedules, calibration metrics and Monte Carlo dropout, written in
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
from kreg import calibration, callbacks, layers, metrics, regularizers  # noqa: F401
from kreg.mc_dropout import mc_predict

__all__ = ["calibration", "callbacks", "layers", "metrics", "mc_predict", "regularizers"]
