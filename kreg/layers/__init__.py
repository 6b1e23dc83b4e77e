"""kreg's Keras layers, written in `keras.ops`; each is registered with Keras as "kreg>Name"."""

from kreg.layers.base import SchedulableDropout
from kreg.layers.dropblock import DropBlock2D
from kreg.layers.dropout_choice import (
    DROPOUT_LAYERS,
    SPATIAL_DROPOUT_LAYERS,
    dropout_class,
    is_dropout_layer,
)
from kreg.layers.inverted_dropout import RNG_ALGORITHMS, InvertedDropout
from kreg.layers.stochastic_depth import StochasticDepth, linear_depth_rates

__all__ = [
    "DROPOUT_LAYERS",
    "RNG_ALGORITHMS",
    "SPATIAL_DROPOUT_LAYERS",
    "DropBlock2D",
    "InvertedDropout",
    "SchedulableDropout",
    "StochasticDepth",
    "dropout_class",
    "is_dropout_layer",
    "linear_depth_rates",
]
