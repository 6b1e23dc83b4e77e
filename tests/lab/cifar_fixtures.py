"""Tiny CIFAR-10 batches in the official python format, generated for tests."""

import io
import pickle
import tarfile
from pathlib import Path

import numpy as np


def write_batch(path: Path, images: np.ndarray, labels) -> None:
    data = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    with open(path, "wb") as f:
        pickle.dump({b"data": data, b"labels": [int(v) for v in labels]}, f, protocol=3)


def make_cifar(folder: Path, per_batch: int = 16, seed: int = 0) -> Path:
    """Write cifar-10-batches-py/ under `folder`; images carry a class-dependent colour."""
    rng = np.random.RandomState(seed)
    batches = folder / "cifar-10-batches-py"
    batches.mkdir(parents=True, exist_ok=True)
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        labels = rng.randint(0, 10, per_batch)
        images = rng.randint(0, 60, (per_batch, 32, 32, 3)).astype(np.uint8)
        images[..., 0] += (labels * 19).astype(np.uint8)[:, None, None]
        write_batch(batches / name, images, labels)
    with open(batches / "batches.meta", "wb") as f:
        pickle.dump({b"label_names": [b"c%d" % i for i in range(10)]}, f, protocol=3)
    return batches


def make_archive(batches: Path, archive: Path, extra: dict | None = None) -> Path:
    """Pack `batches` as cifar-10-python.tar.gz, plus `extra` {member name: bytes or TarInfo}."""
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(batches, arcname="cifar-10-batches-py")
        for name, payload in (extra or {}).items():
            if isinstance(payload, tarfile.TarInfo):
                tar.addfile(payload)
            else:
                info = tarfile.TarInfo(name)
                info.size = len(payload)
                tar.addfile(info, io.BytesIO(payload))
    return archive
