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


class _Unreadable:
    """A file that exists but does not parse: its path and the parser's complaint."""

    def __init__(self, path: Path, error: BaseException):
        self.text = f"{path} is unreadable ({type(error).__name__}: {error}); a crash or an edit "
        self.text += "may have cut it short"


def _read_json(path: Path):
    """The file's JSON, None if it does not exist, or an `_Unreadable`."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as error:
        return _Unreadable(path, error)


def _has_files(folder: Path | None) -> bool:
    return folder is not None and folder.is_dir() and any(p.is_file() for p in folder.rglob("*"))


def _problem(variant, settings, saved, tag, *, done_file, backup_dir, logdir) -> str | None:
    """What stands in the way of resuming or starting `variant`, or None."""
    if isinstance(saved, _Unreadable):
        return saved.text
    if saved is not None:
        return (
            f"{done_file} holds a finished run of {variant} with other settings "
            f"({'; '.join(differences(saved.get('fingerprint'), settings))})"
        )
    if isinstance(tag, _Unreadable):
        return tag.text
    if tag is not None and tag != settings:
        return (
            f"{backup_dir} holds an interrupted run of {variant} with other settings "
            f"({'; '.join(differences(tag, settings))})"
        )
    if tag is None and _has_files(backup_dir):
        return f"{backup_dir} holds backups without their {FINGERPRINT_FILE}"
    if tag is None and _has_files(logdir):
        return (
            f"{logdir} already holds the logs of a run of {variant}; a new run would add its "
            "events to them"
        )
    return None


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

    Anything made with other settings, a done-file or fingerprint that does
    not parse, or a TensorBoard run directory that holds another run's
    events, raises `SettingsChangedError` naming the file and what is wrong;
    with `overwrite=True` those files are deleted instead and training starts
    afresh. The backup folder is tagged with `settings` before training starts.
    """
    saved = _read_json(done_file)
    tag = _read_json(backup_dir / FINGERPRINT_FILE)
    if isinstance(saved, dict) and saved.get("fingerprint") == settings:
        try:
            result = VariantResult.from_json(saved)
        except (KeyError, TypeError, ValueError) as error:
            saved = _Unreadable(done_file, error)
        else:
            shutil.rmtree(backup_dir, ignore_errors=True)  # left by a kill after the result
            return result
    problem = _problem(
        variant, settings, saved, tag, done_file=done_file, backup_dir=backup_dir, logdir=logdir
    )
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
    if tag != settings:
        write_json(backup_dir / FINGERPRINT_FILE, settings)
    return None
