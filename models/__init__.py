"""Model builders, importable as `kreg.models`."""

from kreg.models.football import (
    course_parameters,
    dense_layers,
    football_classifier,
    set_course_parameters,
)

__all__ = ["course_parameters", "dense_layers", "football_classifier", "set_course_parameters"]
