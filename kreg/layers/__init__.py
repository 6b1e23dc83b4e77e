"""kreg's Keras layers; each is registered with Keras under the package name "kreg"."""

from kreg.layers.dropout_choice import DROPOUT_LAYERS, dropout_class
from kreg.layers.inverted_dropout import RNG_ALGORITHMS, InvertedDropout, is_dropout_layer

__all__ = [
    "DROPOUT_LAYERS",
    "RNG_ALGORITHMS",
    "InvertedDropout",
    "dropout_class",
    "is_dropout_layer",
]
