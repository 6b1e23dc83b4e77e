"""The CIFAR-10 experiment's profiles and variants, and the model a variant trains."""

from __future__ import annotations

import dataclasses
from typing import NamedTuple

import keras

from kreg.losses import SparseCategoricalCrossentropy
from kreg.models import resnet_cifar10, vgg_cifar10
from kreg.sam import SharpnessAwareMinimization

__all__ = [
    "BASELINES",
    "DEFAULT_VARIANTS",
    "PROFILES",
    "VARIANTS",
    "Profile",
    "VariantSettings",
    "build_model",
    "make_optimizer",
    "profile_table",
    "variant_settings",
]

VARIANTS = (
    "baseline",
    "l2",
    "dropout",
    "l2+dropout",
    "adamw",
    "adamw+dropout",
    "swa",
    "sam",
    "smooth",
    "resnet20",
    "resnet20+sd",
)
# What `cifar_l2.py` trains unless --variants says otherwise (the course's comparison).
DEFAULT_VARIANTS = VARIANTS[:4]
# The run each variant's difference is measured against (paired by seed); "baseline" otherwise.
BASELINES = {"resnet20": None, "resnet20+sd": "resnet20"}


@dataclasses.dataclass(frozen=True)
class Profile:
    """Everything a variant's run needs besides the data."""

    preset: str
    epochs: int
    batch_size: int
    optimizer: str
    learning_rate: float
    lr_decay: float  # the book's Keras 2 `decay`: lr / (1 + decay * iterations)
    augment: str
    l2: float  # the Keras L2 factor on every kernel of the l2 variants
    dropout: tuple[float, ...]
    dense_dropout: float
    filters: tuple[int, ...] | None = None
    dense_units: tuple[int, ...] | None = None
    max_train_images: int | None = None
    # The decoupled weight decay of the adamw variants (Keras's AdamW `weight_decay`); None
    # is 2 * l2, the decay that equals the L2 factor under plain SGD (see VariantSettings).
    adamw_decay: float | None = None
    # Share of the training images held out (seeded) for every curve and choice during
    # training; the test set is evaluated once, at the end.
    validation_split: float = 0.1
    # The swa variant: the first epoch (0-based) averaged; None is three quarters in.
    swa_start: int | None = None
    # The sam variant's neighbourhood radius (Foret et al.'s CIFAR value).
    sam_rho: float = 0.05
    # The smooth variant's label smoothing.
    label_smoothing: float = 0.1
    # The resnet20+sd variant: the last block's drop rate (Huang et al.'s linear rule to 0.5).
    stochastic_depth: float = 0.5


PROFILES = {
    # The seed book's full run: its network, Adam(1e-4, decay 1e-6), batch 128, 125 epochs,
    # rotation/shift/flip augmentation. About 89.6 % test accuracy on the full CIFAR-10.
    "book": Profile(
        preset="book",
        epochs=125,
        batch_size=128,
        optimizer="adam",
        learning_rate=1e-4,
        lr_decay=1e-6,
        augment="book",
        l2=1e-4,
        dropout=(0.2, 0.3, 0.4),
        dense_dropout=0.0,
    ),
    # Minutes on a laptop CPU: the Keras VGG-like net, Adam(1e-3), no augmentation, at most
    # 6000 training images (the whole 5085-image subset; a sample of the full set).
    "quick": Profile(
        preset="keras-vgg",
        epochs=10,
        batch_size=64,
        optimizer="adam",
        learning_rate=1e-3,
        lr_decay=0.0,
        augment="none",
        l2=1e-3,
        dropout=(0.3, 0.4),
        dense_dropout=0.5,
        max_train_images=6000,
    ),
}


class VariantSettings(NamedTuple):
    """A variant's regularization: what its model and optimizer are built with.

    The three ways to shrink the weights relate as follows (m training examples):

    - the course's `lambd` adds `lambd / (2 m) * sum(W**2)` to the cost: that is
      `kernel_regularizer=L2(l2)` with `l2 = lambd / (2 m)`;
    - `L2(l2)` adds `2 l2 W` to each kernel's gradient; under plain SGD (no
      momentum) its update is exactly the decoupled `weight_decay = 2 l2` of
      Keras's optimizers (`W -= lr * weight_decay * W`), i.e. `lambd / m`
      (`kreg.regularizers.weight_decay_from_l2`);
    - under Adam they differ: the penalty's gradient goes through Adam's
      moment estimates and is divided by the root of the second moment, so
      weights with small gradients are pulled to zero far harder than large
      ones (Loshchilov and Hutter, "Decoupled Weight Decay Regularization").
      AdamW applies the decay outside the moments, as SGD does. The adamw
      variants use `AdamW(weight_decay=profile.adamw_decay)`, by default
      `2 * profile.l2`: the decay that the l2 variants' factor equals under SGD.

    The other variants each add one technique to the unregularized baseline:
    `swa` averages the weights from epoch `swa_start` on
    (`kreg.callbacks.StochasticWeightAveraging`), `sam` trains with
    `kreg.SAM(rho=sam_rho)`, `smooth` with `label_smoothing`
    (`kreg.losses.SparseCategoricalCrossentropy`); `resnet20` is He et al.'s
    ResNet-20 (`kreg.models.resnet_cifar10`, no L2) and `resnet20+sd` the
    same with stochastic depth.

    Attributes:
        optimizer: `"adam"`, `"sgd"` (the profile's) or `"adamw"`.
        l2: the L2 factor on every kernel (0 for none).
        dropout: the rate after each pooling, per block.
        dense_dropout: the rate after each hidden Dense layer.
        weight_decay: AdamW's decoupled `weight_decay` (0 unless adamw).
        architecture: `"vgg"` (the profile's preset) or `"resnet20"`.
        swa_start: the first averaged epoch (0-based), or -1 for no averaging.
        sam_rho: SAM's radius, or 0 for plain steps.
        label_smoothing: the loss's label smoothing.
        stochastic_depth: the last residual block's drop rate (resnet20 only).
    """

    optimizer: str
    l2: float
    dropout: tuple
    dense_dropout: float
    weight_decay: float
    architecture: str = "vgg"
    swa_start: int = -1
    sam_rho: float = 0.0
    label_smoothing: float = 0.0
    stochastic_depth: float = 0.0


def variant_settings(variant: str, profile: Profile) -> VariantSettings:
    """The regularization of a variant of `VARIANTS` under `profile`."""
    if variant not in VARIANTS:
        raise ValueError(f"Unknown variant {variant!r}; expected one of {', '.join(VARIANTS)}.")
    adamw = variant.startswith("adamw")
    if adamw and profile.optimizer != "adam":
        raise ValueError(
            f"The {variant} variant replaces Adam by AdamW; the profile's optimizer is "
            f"{profile.optimizer!r}."
        )
    drop = "dropout" in variant
    decay = profile.adamw_decay if profile.adamw_decay is not None else 2 * profile.l2
    resnet = variant.startswith("resnet20")
    return VariantSettings(
        optimizer="adamw" if adamw else profile.optimizer,
        l2=profile.l2 if "l2" in variant else 0.0,
        dropout=tuple(profile.dropout) if drop else (0.0,) * len(profile.dropout),
        dense_dropout=profile.dense_dropout if drop else 0.0,
        weight_decay=decay if adamw else 0.0,
        architecture="resnet20" if resnet else "vgg",
        swa_start=swa_start(profile) if variant == "swa" else -1,
        sam_rho=profile.sam_rho if variant == "sam" else 0.0,
        label_smoothing=profile.label_smoothing if variant == "smooth" else 0.0,
        stochastic_depth=profile.stochastic_depth if variant == "resnet20+sd" else 0.0,
    )


def swa_start(profile: Profile) -> int:
    """The swa variant's first averaged epoch: the profile's, or three quarters of the epochs."""
    if profile.swa_start is not None:
        return profile.swa_start
    return (3 * profile.epochs) // 4


def make_optimizer(profile: Profile, weight_decay: float = 0.0) -> keras.optimizers.Optimizer:
    """The profile's optimizer, with the book's inverse-time decay when `lr_decay` is set.

    A `weight_decay` > 0 makes Adam AdamW with that decoupled decay.
    """
    rate = profile.learning_rate
    if profile.lr_decay:
        rate = keras.optimizers.schedules.InverseTimeDecay(rate, 1, profile.lr_decay)
    if profile.optimizer == "adam":
        if weight_decay > 0:
            return keras.optimizers.AdamW(rate, weight_decay=weight_decay)
        return keras.optimizers.Adam(rate)
    if profile.optimizer == "sgd" and weight_decay == 0:
        return keras.optimizers.SGD(rate, momentum=0.9)
    raise ValueError(
        f"`optimizer` must be 'adam' or 'sgd' (weight decay only with adam). "
        f"Received: optimizer={profile.optimizer!r}, weight_decay={weight_decay!r}"
    )


def build_model(
    profile: Profile,
    *,
    l2: float,
    dropout,
    dense_dropout: float,
    dropout_layer="keras",
    seed: int | None = None,
    sync_batch_norm: bool = False,
    name: str | None = None,
    weight_decay: float = 0.0,
    block_size: int = 3,
    architecture: str = "vgg",
    sam_rho: float = 0.0,
    label_smoothing: float = 0.0,
    stochastic_depth: float = 0.0,
) -> keras.Model:
    """The profile's convnet with these regularization settings, compiled with its optimizer.

    `weight_decay` > 0 trains with AdamW (see `VariantSettings`); `block_size`
    is DropBlock's, with `dropout_layer="dropblock"`. `architecture="resnet20"`
    builds `resnet_cifar10(20)` with `l2` and `stochastic_depth` instead of
    the profile's VGG net; `sam_rho` > 0 wraps the model in `kreg.SAM` (the
    wrapper is returned, its `model` is the network); `label_smoothing` > 0
    uses kreg's sparse cross-entropy with that smoothing.
    """
    if architecture == "resnet20":
        model = resnet_cifar10(
            20,
            preset=None,
            filters=(16, 32, 64),
            l2=l2,
            stochastic_depth=stochastic_depth,
            seed=seed,
            name=name,
        )
    elif architecture == "vgg":
        model = vgg_cifar10(
            profile.preset,
            l2=l2,
            dropout=dropout,
            dense_dropout=dense_dropout,
            filters=profile.filters,
            dense_units=profile.dense_units,
            dropout_layer=dropout_layer,
            block_size=block_size,
            seed=seed,
            sync_batch_norm=sync_batch_norm,
            name=name,
        )
    else:
        raise ValueError(
            f"`architecture` must be 'vgg' or 'resnet20'. Received: architecture={architecture!r}"
        )
    if sam_rho > 0:
        model = SharpnessAwareMinimization(model, rho=sam_rho, name=f"sam_{model.name}")
    loss = (
        SparseCategoricalCrossentropy(label_smoothing=label_smoothing)
        if label_smoothing > 0
        else "sparse_categorical_crossentropy"
    )
    model.compile(optimizer=make_optimizer(profile, weight_decay), loss=loss, metrics=["accuracy"])
    return model


def profile_table(name: str, profile: Profile) -> str:
    """The profile as `name  value` lines, for `--help` and the start of a run."""
    fields = dataclasses.asdict(profile)
    width = max(len(key) for key in fields)
    lines = [f"profile {name}:"]
    lines += [f"  {key:<{width}}  {value}" for key, value in fields.items()]
    return "\n".join(lines)
