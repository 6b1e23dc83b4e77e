"""CIFAR-10 from the official python batches, read safely.

Sources, in order: `data_dir`, then `$KREG_DATA_DIR`, then Keras's cache and
download (`keras.utils.get_file` with the published SHA-256, shared with
`keras.datasets.cifar10`). Each may be a `cifar-10-batches-py/` folder, a
folder holding one, or a `cifar-10-python.tar.gz` archive.

The batches are pickles. They are read with an unpickler that can only
rebuild NumPy arrays, so a hostile file cannot run code; archives are
checked member by member and extracted with tarfile's "data" filter, so no
member can land outside the target folder, and extraction goes through a
temporary folder renamed into place, so an interrupted one leaves nothing
half-written.
"""

from __future__ import annotations

import os
import pickle
import shutil
import tarfile
import tempfile
from pathlib import Path

import numpy as np

from kreg.datasets.splits import split_validation

__all__ = ["CIFAR10_CLASSES", "load_cifar10", "read_batch"]

CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
ORIGIN = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"
SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
FOLDER = "cifar-10-batches-py"
ARCHIVE = "cifar-10-python.tar.gz"
TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))
TEST_BATCH = "test_batch"
HOW_TO_FIX = (
    "Point `data_dir` (or --data-dir, or $KREG_DATA_DIR) at a folder holding "
    f"{FOLDER}/ or {ARCHIVE}, as published at {ORIGIN}."
)

# What an array pickle needs, and nothing else: no callables, no imports.
_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("_codecs", "encode"),
}


class _RefusedGlobal(pickle.UnpicklingError):
    pass


class _ArrayOnlyUnpickler(pickle.Unpickler):
    def find_class(self, module, name):
        if (module, name) in _ALLOWED_GLOBALS:
            return super().find_class(module, name)
        raise _RefusedGlobal(f"refusing to load `{module}.{name}`")


def read_batch(path: str | os.PathLike) -> tuple[np.ndarray, np.ndarray]:
    """Read one CIFAR-10 python batch safely.

    Returns:
        `(images, labels)`: uint8 `(n, 32, 32, 3)` (channels last) and uint8
        `(n,)` labels in 0..9.

    Raises:
        ValueError: the file is truncated, corrupt, hostile (needs anything
            but NumPy arrays to unpickle) or not a CIFAR-10 batch; the message
            names the file.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            batch = _ArrayOnlyUnpickler(f, encoding="bytes").load()
    except _RefusedGlobal as error:
        raise ValueError(
            f"{path}: not a safe CIFAR-10 batch ({error}); the file is corrupt or was "
            f"tampered with. Replace it with the official one. {HOW_TO_FIX}"
        ) from error
    except (
        pickle.UnpicklingError,
        EOFError,
        ValueError,
        TypeError,
        IndexError,
        KeyError,
        AttributeError,
    ) as error:
        raise ValueError(
            f"{path}: truncated or corrupt CIFAR-10 batch ({type(error).__name__}: {error}). "
            f"Download or extract it again. {HOW_TO_FIX}"
        ) from error
    if not isinstance(batch, dict):
        raise ValueError(
            f"{path}: expected a dict with b'data' and b'labels', got {type(batch).__name__}."
        )
    batch = {k.decode("utf-8") if isinstance(k, bytes) else k: v for k, v in batch.items()}
    if "data" not in batch or "labels" not in batch:
        raise ValueError(f"{path}: missing 'data' or 'labels'; not a CIFAR-10 batch.")
    data = batch["data"]
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise ValueError(f"{path}: 'data' must be a uint8 (n, 3072) array.")
    if data.shape[1] != 3072 or data.shape[0] == 0:
        raise ValueError(f"{path}: 'data' must have shape (n, 3072); got {data.shape}.")
    labels = np.asarray(batch["labels"])
    if labels.shape != (data.shape[0],):
        raise ValueError(
            f"{path}: {len(labels)} labels for {data.shape[0]} images; the batch is inconsistent."
        )
    if not np.issubdtype(labels.dtype, np.integer) or labels.min() < 0 or labels.max() > 9:
        raise ValueError(f"{path}: labels must be integers in 0..9.")
    images = data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1)
    return np.ascontiguousarray(images), labels.astype(np.uint8)


def _check_members(archive: tarfile.TarFile, path: Path) -> list[tarfile.TarInfo]:
    members = []
    for member in archive.getmembers():
        name = Path(member.name)
        if name.is_absolute() or ".." in name.parts:
            raise ValueError(
                f"{path}: archive member {member.name!r} would be written outside the target "
                "folder; refusing to extract."
            )
        if member.issym() or member.islnk() or member.isdev():
            raise ValueError(
                f"{path}: archive member {member.name!r} is a link or device; refusing to extract."
            )
        if name.parts and name.parts[0] == FOLDER:
            members.append(member)
    if not members:
        raise ValueError(
            f"{path}: the archive holds no {FOLDER}/ folder; not the CIFAR-10 archive."
        )
    return members


def _extract(archive_path: Path) -> Path:
    """Extract the batches next to the archive, atomically; return the batches folder."""
    target = archive_path.parent / FOLDER
    if target.is_dir():
        return target
    try:
        with tarfile.open(archive_path, "r:gz") as archive:
            members = _check_members(archive, archive_path)
            staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=archive_path.parent))
            try:
                archive.extractall(staging, members=members, filter="data")
                os.replace(staging / FOLDER, target)
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    except (tarfile.TarError, EOFError, OSError) as error:
        if isinstance(error, PermissionError):
            raise
        raise ValueError(
            f"{archive_path}: cannot extract ({type(error).__name__}: {error}); the archive is "
            f"truncated or corrupt. {HOW_TO_FIX}"
        ) from error
    return target


def _locate(root: Path) -> Path | None:
    """The batches folder at or under `root`, extracting an archive if that is what is there."""
    candidates = [root, root / FOLDER, root / "cifar10-subset" / FOLDER]
    for folder in candidates:
        if (folder / TEST_BATCH).is_file() or (folder / "batches.meta").is_file():
            return folder
    archives = [root] if root.suffixes[-2:] == [".tar", ".gz"] else []
    archives += [root / ARCHIVE, root / "cifar10-subset" / ARCHIVE]
    for archive in archives:
        if archive.is_file():
            return _extract(archive)
    return None


def _keras_cache_folder() -> Path:
    keras_home = Path(os.environ.get("KERAS_HOME", Path.home() / ".keras"))
    return keras_home / "datasets" / "cifar-10-batches-py-target" / FOLDER


def _find_batches(data_dir, download: bool) -> Path:
    looked = []
    for label, root in (
        ("data_dir", data_dir),
        ("$KREG_DATA_DIR", os.environ.get("KREG_DATA_DIR")),
    ):
        if not root:
            continue
        root = Path(root)
        if not root.exists():
            if label == "data_dir":
                raise FileNotFoundError(f"CIFAR-10 data_dir does not exist: {root}. {HOW_TO_FIX}")
            looked.append(str(root))
            continue
        found = _locate(root)
        if found is not None:
            return found
        if label == "data_dir":
            raise FileNotFoundError(
                f"No CIFAR-10 batches in data_dir {root}: expected {FOLDER}/ or {ARCHIVE} there. "
                + HOW_TO_FIX
            )
        looked.append(str(root))
    cached = _keras_cache_folder()
    if (cached / TEST_BATCH).is_file():
        return cached
    looked.append(str(cached))
    if not download:
        raise FileNotFoundError(
            f"CIFAR-10 not found (looked in {', '.join(looked)}) and download=False. {HOW_TO_FIX}"
        )
    import keras

    try:
        path = keras.utils.get_file(
            fname="cifar-10-batches-py-target", origin=ORIGIN, extract=True, file_hash=SHA256
        )
    except Exception as error:  # get_file raises plain Exception on network failure
        raise FileNotFoundError(
            f"CIFAR-10 not found locally (looked in {', '.join(looked)}) and the download from "
            f"{ORIGIN} failed ({error}). {HOW_TO_FIX}"
        ) from error
    return Path(path) / FOLDER


def _read_all(folder: Path, names) -> tuple[np.ndarray, np.ndarray]:
    missing = [name for name in names if not (folder / name).is_file()]
    if missing:
        raise FileNotFoundError(f"{folder}: missing {', '.join(missing)}. {HOW_TO_FIX}")
    parts = [read_batch(folder / name) for name in names]
    return np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts])


def load_cifar10(
    data_dir: str | os.PathLike | None = None,
    *,
    train_subset: int | None = None,
    validation_split: float = 0.0,
    seed: int = 0,
    download: bool = True,
):
    """Load CIFAR-10 as uint8 images and labels, Keras layout.

    Args:
        data_dir: a `cifar-10-batches-py/` folder, a folder holding one (or
            `cifar10-subset/cifar-10-batches-py/`), or `cifar-10-python.tar.gz`
            (extracted beside itself). None tries `$KREG_DATA_DIR`, then
            Keras's cache, then the download.
        train_subset: keep only the first this-many training images.
        validation_split: fraction of the training images held out (a seeded
            random choice) as a validation set.
        seed: seed of the validation split.
        download: allow the download from the official address.

    Returns:
        `((x_train, y_train), (x_test, y_test))` with uint8 images
        `(n, 32, 32, 3)` and uint8 labels `(n, 1)`, as
        `keras.datasets.cifar10.load_data()`; with `validation_split > 0`,
        `((x_train, y_train), (x_val, y_val), (x_test, y_test))`.

    Raises:
        FileNotFoundError: no data anywhere (the message lists where it
            looked and how to point kreg at local data).
        ValueError: a truncated, corrupt or hostile batch or archive, or bad
            arguments.
    """
    if train_subset is not None and (not isinstance(train_subset, int) or train_subset < 1):
        raise ValueError(
            f"`train_subset` must be a positive integer. Received: train_subset={train_subset!r}"
        )
    if not 0.0 <= validation_split < 1.0:
        raise ValueError(
            f"`validation_split` must be in [0, 1). Received: validation_split={validation_split}"
        )
    folder = _find_batches(data_dir, download)
    x_train, y_train = _read_all(folder, TRAIN_BATCHES)
    x_test, y_test = _read_all(folder, (TEST_BATCH,))
    if train_subset is not None:
        if train_subset > len(x_train):
            raise ValueError(
                f"`train_subset`={train_subset} exceeds the {len(x_train)} training images "
                f"in {folder}."
            )
        x_train, y_train = x_train[:train_subset], y_train[:train_subset]
    y_train, y_test = y_train.reshape(-1, 1), y_test.reshape(-1, 1)
    if validation_split > 0:
        x_train, y_train, x_val, y_val = split_validation(x_train, y_train, validation_split, seed)
        return (x_train, y_train), (x_val, y_val), (x_test, y_test)
    return (x_train, y_train), (x_test, y_test)
