"""kreg.lab.runners.cifar: fingerprints, and what happens to a variant's earlier files."""

import dataclasses
import json

import keras
import numpy as np
import pytest

from kreg.lab.runners.cifar import (
    FINGERPRINT_FILE,
    PROFILES,
    SettingsChangedError,
    VariantResult,
    fingerprint,
    prepare_variant,
)
from kreg.lab.runners.settings import differences

RNG = np.random.RandomState(0)
DATA = tuple(
    (RNG.randint(0, 255, (n, 32, 32, 3)).astype("uint8"), RNG.randint(0, 10, (n, 1)))
    for n in (8, 2, 4)
)


def settings(**changes):
    profile = dataclasses.replace(PROFILES["quick"], **changes)
    return fingerprint("l2+dropout", profile, DATA, seed=0, dropout_layer="keras")


def paths(tmp_path):
    return {
        "done_file": tmp_path / "backup" / "l2_dropout.done.json",
        "backup_dir": tmp_path / "backup" / "l2_dropout",
        "logdir": tmp_path / "runs" / "l2_dropout",
    }


def test_fingerprint_covers_data_profile_and_versions():
    base = settings()
    assert {"data_sha256", "profile", "seed", "dropout_layer", "keras", "kreg"} <= set(base)
    other_data = fingerprint(
        "l2+dropout", PROFILES["quick"], (DATA[0], DATA[1], DATA[1]), seed=0, dropout_layer="keras"
    )
    assert differences(base, other_data) == [
        f"data_sha256: {base['data_sha256']} -> {other_data['data_sha256']}"
    ]
    assert differences(base, settings(l2=0.05)) == [
        "l2: 0.001 -> 0.05",
        "profile.l2: 0.001 -> 0.05",
    ]


def test_a_fresh_variant_tags_its_backup(tmp_path):
    assert prepare_variant("l2+dropout", settings(), **paths(tmp_path)) is None
    saved = json.loads((paths(tmp_path)["backup_dir"] / FINGERPRINT_FILE).read_text())
    assert saved == settings()


def test_an_interrupted_run_with_the_same_settings_resumes(tmp_path):
    places = paths(tmp_path)
    prepare_variant("l2+dropout", settings(), **places)
    (places["backup_dir"] / "latest.weights.h5").write_bytes(b"weights")
    (places["logdir"] / "train").mkdir(parents=True)
    (places["logdir"] / "train" / "events.out.tfevents.1").write_bytes(b"events")
    assert prepare_variant("l2+dropout", settings(), **places) is None
    assert (places["backup_dir"] / "latest.weights.h5").exists(), "the backup is kept"


def test_a_backup_with_other_settings_is_refused_then_overwritten(tmp_path):
    places = paths(tmp_path)
    prepare_variant("l2+dropout", settings(), **places)
    (places["backup_dir"] / "latest.weights.h5").write_bytes(b"weights")
    with pytest.raises(
        SettingsChangedError, match=r"interrupted run .*\(profile.epochs: 10 -> 3\)"
    ):
        prepare_variant("l2+dropout", settings(epochs=3), **places)
    assert (places["backup_dir"] / "latest.weights.h5").exists(), "nothing deleted when refused"
    prepare_variant("l2+dropout", settings(epochs=3), **places, overwrite=True)
    assert not (places["backup_dir"] / "latest.weights.h5").exists()


def test_a_finished_variant_is_read_back_only_with_the_same_settings(tmp_path):
    places = paths(tmp_path)
    result = VariantResult("l2+dropout", 0.9, 0.6, 0.55, 1.0, 2, {"loss": [1, 0.5]}, "x", {})
    places["done_file"].parent.mkdir(parents=True)
    places["done_file"].write_text(json.dumps({**result.to_json(), "fingerprint": settings()}))
    again = prepare_variant("l2+dropout", settings(), **places)
    assert again.test_accuracy == 0.55 and again.history == {"loss": [1, 0.5]}
    with pytest.raises(SettingsChangedError, match="finished run of l2\\+dropout"):
        prepare_variant("l2+dropout", settings(l2=0.1), **places)


def test_variant_settings_map_l2_to_adamw_decay_and_build_adamw():
    from kreg.lab.runners.cifar import PROFILES, build_model, variant_settings

    quick = PROFILES["quick"]
    l2 = variant_settings("l2", quick)
    adamw = variant_settings("adamw+dropout", quick)
    assert (l2.optimizer, l2.l2, l2.weight_decay) == ("adam", quick.l2, 0.0)
    # The decay the l2 variants' factor equals under plain SGD: 2 * l2 (lambd / m).
    assert (adamw.optimizer, adamw.l2, adamw.weight_decay) == ("adamw", 0.0, 2 * quick.l2)
    assert adamw.dropout == quick.dropout and variant_settings("adamw", quick).dropout == (0, 0)
    small = dataclasses.replace(quick, filters=(4,), dense_units=(8,), adamw_decay=0.05)
    model = build_model(
        small,
        l2=0.0,
        dropout=(0.0,),
        dense_dropout=0.0,
        weight_decay=variant_settings("adamw", small).weight_decay,
    )
    assert isinstance(model.optimizer, keras.optimizers.AdamW)
    assert model.optimizer.weight_decay == 0.05
    assert not model.losses, "no kernel regularizer in the adamw variants"
    with pytest.raises(
        ValueError, match="replaces Adam by AdamW; the profile's optimizer is 'sgd'"
    ):
        variant_settings("adamw", dataclasses.replace(quick, optimizer="sgd"))
    with pytest.raises(ValueError, match="Unknown variant 'adamx'"):
        variant_settings("adamx", quick)
