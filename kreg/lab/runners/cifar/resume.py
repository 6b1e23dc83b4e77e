"""Resuming a variant: the fingerprint of its settings, and what its earlier files say."""

from __future__ import annotations

import dataclasses
import json
import shutil
from pathlib import Path

import keras
import tensorflow as tf

from kreg import __version__
from kreg.lab.io import write_json
from kreg.lab.runners.cifar.profiles import Profile, variant_settings
from kreg.lab.runners.cifar.results import VariantResult
from kreg.lab.runners.settings import differences
from kreg.walk import weights_digest

__all__ = ["FINGERPRINT_FILE", "SettingsChangedError", "fingerprint", "prepare_variant"]


def fingerprint(
    variant: str,
    profile: Profile,
    data,
    *,
    seed: int,
    dropout_layer: str,
    strategy: str = "none",
    replicas: int = 1,
    mc_samples: int = 30,
    block_size: int | None = None,
    precision: str = "float32",
) -> dict:
    """Everything that changes a variant's result, as JSON-ready values.

    The profile, the variant's regularization, SHA-256 digests of the data
    (training, validation and test arrays), the seed, the dropout layer, the
    distribution, the MC dropout samples of the calibration report, and the
    kreg, Keras and TensorFlow versions. A finished
    variant or a backup with another fingerprint is not reused.
    """
    regularization = variant_settings(variant, profile)
    dropout, dense_dropout = regularization.dropout, regularization.dense_dropout
    arrays = [array for split in data for array in split]
    settings = {
        "variant": variant,
        "profile": dataclasses.asdict(profile),
        **regularization._asdict(),
        "dropout": list(dropout),
        "data_sha256": weights_digest(arrays),
        "seed": seed,
        "dropout_layer": dropout_layer,
        "block_size": block_size if dropout_layer == "dropblock" else None,
        "precision": precision,
        "strategy": strategy,
        "replicas": replicas,
        "mc_samples": mc_samples if any(dropout) or dense_dropout else None,
        "kreg": __version__,
        "keras": keras.__version__,
        "tensorflow": tf.__version__,
    }
    return json.loads(json.dumps(settings))  # as it reads back: tuples become lists


class SettingsChangedError(ValueError):
    """A variant's earlier results or backup were made with other settings."""


FINGERPRINT_FILE = "kreg_fingerprint.json"


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _has_files(folder: Path | None) -> bool:
    return folder is not None and folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def prepare_variant(
    variant: str,
    settings: dict,
    *,
    done_file: Path,
    backup_dir: Path,
    logdir: Path | None,
    overwrite: bool = False,
) -> VariantResult | None:
    """Decide what to do with a variant's earlier files; return its result if it is finished.

    - finished with the same `settings` (fingerprint): its `VariantResult`;
    - interrupted with the same settings: None, and training resumes from the
      backup, appending to the same TensorBoard run;
    - nothing there: None, a fresh start.

    Anything made with other settings, or a TensorBoard run directory that
    holds another run's events, raises `SettingsChangedError` naming what differs;
    with `overwrite=True` those files are deleted instead and training starts
    afresh. The backup is tagged with `settings` before training starts.
    """
    saved = _read_json(done_file) if done_file.exists() else None
    backup_settings = _read_json(backup_dir / FINGERPRINT_FILE) if backup_dir.exists() else None
    if saved is not None and saved.get("fingerprint") == settings:
        return VariantResult.from_json(saved)
    if saved is not None:
        problem = (
            f"{done_file} holds a finished run of {variant} with other settings "
            f"({'; '.join(differences(saved.get('fingerprint'), settings))})"
        )
    elif backup_dir.exists() and backup_settings != settings:
        problem = (
            f"{backup_dir} holds an interrupted run of {variant} with other settings "
            f"({'; '.join(differences(backup_settings, settings))})"
        )
    elif not backup_dir.exists() and _has_files(logdir):
        problem = (
            f"{logdir} already holds the logs of a run of {variant}; a new run would add its "
            "events to them"
        )
    else:
        problem = None
    if problem is not None:
        if not overwrite:
            raise SettingsChangedError(
                f"{problem}. Pass --overwrite to train {variant} afresh (deleting those files), "
                "or use another --logdir."
            )
        done_file.unlink(missing_ok=True)
        shutil.rmtree(backup_dir, ignore_errors=True)
        if logdir is not None:
            shutil.rmtree(logdir, ignore_errors=True)
    backup_dir.mkdir(parents=True, exist_ok=True)
    write_json(backup_dir / FINGERPRINT_FILE, settings)
    return None
