"""The CIFAR-10 regularization experiment: profiles, variants, resuming, training, evaluation.

`experiments/cifar_l2.py` reads top to bottom and calls these modules:
`profiles` (what a variant is), `resume` (fingerprints and earlier files),
`train` (one variant's run), `evaluation` (calibration), `export` (saved
models), `results` (a result and the statistics over seeds) and `report`
(what is printed).
"""

from kreg.lab.runners.cifar.evaluation import evaluate_calibration
from kreg.lab.runners.cifar.export import export_model, save_model_atomically
from kreg.lab.runners.cifar.profiles import (
    DEFAULT_VARIANTS,
    PROFILES,
    VARIANTS,
    Profile,
    VariantSettings,
    build_model,
    make_optimizer,
    profile_table,
    variant_settings,
)
from kreg.lab.runners.cifar.report import (
    calibration_metrics,
    print_calibration,
    print_spread,
    print_table,
    regularization_text,
)
from kreg.lab.runners.cifar.results import VariantResult, run_name, seed_summary
from kreg.lab.runners.cifar.resume import (
    FINGERPRINT_FILE,
    SettingsChangedError,
    fingerprint,
    prepare_variant,
)
from kreg.lab.runners.cifar.train import run_variant

__all__ = [
    "DEFAULT_VARIANTS",
    "FINGERPRINT_FILE",
    "PROFILES",
    "VARIANTS",
    "Profile",
    "SettingsChangedError",
    "VariantResult",
    "VariantSettings",
    "build_model",
    "calibration_metrics",
    "evaluate_calibration",
    "export_model",
    "fingerprint",
    "make_optimizer",
    "print_calibration",
    "print_spread",
    "print_table",
    "regularization_text",
    "prepare_variant",
    "profile_table",
    "run_name",
    "run_variant",
    "save_model_atomically",
    "seed_summary",
    "variant_settings",
]
