"""Model builders, importable as `kreg.models`."""

from kreg.models.football import (
    course_parameters,
    dense_layers,
    football_classifier,
    set_course_parameters,
)
from kreg.models.resnet import RESNET_PRESETS, resnet_cifar10
from kreg.models.vgg import PRESETS, vgg_cifar10

__all__ = [
    "PRESETS",
    "RESNET_PRESETS",
    "course_parameters",
    "dense_layers",
    "football_classifier",
    "resnet_cifar10",
    "set_course_parameters",
    "vgg_cifar10",
]
