"""kreg: regularizing neural networks with Keras 3.

L2 weight penalties and inverted dropout, from the course's 3-layer "football"
classifier up to a CIFAR-10 VGG-style convnet. `import kreg` registers every
serializable kreg class with Keras, so `keras.models.load_model` reads models
that use them.
"""

import os

# TensorFlow's C++ runtime also logs benign errors at run time (for example a tf.data
# "NodeDef mentions attribute use_unbounded_threadpool" line); failures still raise in
# Python. KREG_TF_LOGS=1 shows everything.
if os.environ.get("KREG_TF_LOGS") != "1":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

from kreg._quiet import import_tensorflow_quietly  # noqa: E402

import_tensorflow_quietly()

__version__ = "0.2.0"

# Registration with Keras happens when these modules are imported.
from kreg import layers, metrics, regularizers  # noqa: E402, F401
from kreg.mc_dropout import mc_predict  # noqa: E402

__all__ = ["layers", "mc_predict", "metrics", "regularizers"]
