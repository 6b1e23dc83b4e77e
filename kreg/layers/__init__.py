"""kreg's Keras layers; each is registered with Keras under the package name "kreg"."""

from kreg.layers.dropblock import DropBlock2D
from kreg.layers.dropout_choice import (
    DROPOUT_LAYERS,
    SPATIAL_DROPOUT_LAYERS,
    dropout_class,
    is_dropout_layer,
)
from kreg.layers.inverted_dropout import RNG_ALGORITHMS, InvertedDropout

__all__ = [
    "DROPOUT_LAYERS",
    "RNG_ALGORITHMS",
    "SPATIAL_DROPOUT_LAYERS",
    "DropBlock2D",
    "InvertedDropout",
    "dropout_class",
    "is_dropout_layer",
]
