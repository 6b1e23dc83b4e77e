import os
import pickle
import tarfile

import keras
import numpy as np
import pytest

from kreg.datasets import load_cifar10, read_batch
from tests.lab.cifar_fixtures import make_archive, make_cifar, write_batch


@pytest.fixture
def no_default_sources(tmp_path, monkeypatch):
    monkeypatch.delenv("KREG_DATA_DIR", raising=False)
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras-home"))


def test_real_subset(tmp_path):
    data_dir = os.environ.get("KREG_DATA_DIR")
    if not data_dir or not os.path.isdir(os.path.join(data_dir, "cifar10-subset")):
        pytest.skip(
            "KREG_DATA_DIR has no cifar10-subset: the real CIFAR-10 subset is not available"
        )
    (x_train, y_train), (x_test, y_test) = load_cifar10(os.path.join(data_dir, "cifar10-subset"))
    assert x_train.shape == (5085, 32, 32, 3) and x_train.dtype == np.uint8
    assert y_train.shape == (5085, 1) and x_test.shape == (1017, 32, 32, 3)
    assert sorted(np.unique(y_test)) == list(range(10))


def test_folder_and_parent_folder_layouts(tmp_path, no_default_sources):
    batches = make_cifar(tmp_path)
    for source in (batches, tmp_path):
        (x_train, y_train), (x_test, y_test) = load_cifar10(source)
        assert x_train.shape == (80, 32, 32, 3) and y_train.shape == (80, 1)
        assert x_test.shape == (16, 32, 32, 3)


def test_channels_last_layout_matches_the_official_format(tmp_path):
    image = np.zeros((1, 32, 32, 3), np.uint8)
    image[0, 1, 2] = (10, 20, 30)
    write_batch(tmp_path / "b", image, [3])
    images, labels = read_batch(tmp_path / "b")
    assert tuple(images[0, 1, 2]) == (10, 20, 30) and labels.tolist() == [3]


def test_kreg_data_dir_and_keras_cache(tmp_path, monkeypatch, no_default_sources):
    make_cifar(tmp_path / "data" / "cifar10-subset")
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path / "data"))
    assert load_cifar10()[0][0].shape == (80, 32, 32, 3)
    monkeypatch.delenv("KREG_DATA_DIR")
    make_cifar(tmp_path / "keras-home" / "datasets" / "cifar-10-batches-py-target", per_batch=4)
    assert load_cifar10(download=False)[0][0].shape == (20, 32, 32, 3)


def test_archive_is_extracted_beside_itself(tmp_path, no_default_sources):
    batches = make_cifar(tmp_path / "src")
    data = tmp_path / "data"
    data.mkdir()
    archive = make_archive(batches, data / "cifar-10-python.tar.gz")
    assert load_cifar10(archive)[0][0].shape == (80, 32, 32, 3)
    assert sorted(p.name for p in data.iterdir()) == [
        "cifar-10-batches-py",
        "cifar-10-python.tar.gz",
    ]
    assert load_cifar10(data)[1][0].shape == (16, 32, 32, 3)


def test_subset_and_validation_split(tmp_path, no_default_sources):
    make_cifar(tmp_path)
    (x_train, _), _ = load_cifar10(tmp_path, train_subset=30)
    assert len(x_train) == 30
    (xt, yt), (xv, yv), (xs, _) = load_cifar10(tmp_path, validation_split=0.25, seed=1)
    assert (len(xt), len(xv), len(xs)) == (60, 20, 16)
    (xt2, _), (xv2, _), _ = load_cifar10(tmp_path, validation_split=0.25, seed=1)
    np.testing.assert_array_equal(xv, xv2)
    full = load_cifar10(tmp_path)[0][0].reshape(80, -1)
    rows = {row.tobytes() for row in full}
    assert {r.tobytes() for r in xt.reshape(60, -1)} | {
        r.tobytes() for r in xv.reshape(20, -1)
    } == rows


def test_truncated_batch(tmp_path, no_default_sources):
    batches = make_cifar(tmp_path)
    path = batches / "data_batch_3"
    path.write_bytes(path.read_bytes()[:500])
    with pytest.raises(ValueError, match=f"{path}: truncated or corrupt CIFAR-10 batch"):
        load_cifar10(tmp_path)


class Exploit:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_hostile_pickle_is_refused_without_running(tmp_path, no_default_sources):
    batches = make_cifar(tmp_path)
    marker = tmp_path / "pwned"
    with open(batches / "test_batch", "wb") as f:
        pickle.dump({b"data": Exploit(marker), b"labels": [0]}, f, protocol=3)
    with pytest.raises(
        ValueError, match=r"not a safe CIFAR-10 batch \(refusing to load `posix.system`"
    ):
        load_cifar10(tmp_path)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload, message",
    [
        ({b"data": np.zeros((4, 100), np.uint8), b"labels": [0] * 4}, r"shape \(n, 3072\)"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0] * 3}, "3 labels for 4 images"),
        ({b"data": np.zeros((4, 3072), np.uint8), b"labels": [0, 1, 2, 12]}, "integers in 0..9"),
        ({b"data": np.zeros((4, 3072), np.float32), b"labels": [0] * 4}, "uint8"),
        ({b"labels": [0]}, "missing 'data' or 'labels'"),
        ([1, 2, 3], "expected a dict"),
    ],
)
def test_malformed_batches(tmp_path, payload, message):
    path = tmp_path / "data_batch_1"
    with open(path, "wb") as f:
        pickle.dump(payload, f, protocol=3)
    with pytest.raises(ValueError, match=message):
        read_batch(path)


def _evil_link(name, target):
    info = tarfile.TarInfo(name)
    info.type = tarfile.SYMTYPE
    info.linkname = target
    return info


@pytest.mark.parametrize(
    "member",
    [
        {"../escape.txt": b"outside"},
        {"/tmp/kreg-absolute-escape.txt": b"outside"},
        {"cifar-10-batches-py/link": _evil_link("cifar-10-batches-py/link", "/etc/passwd")},
    ],
)
def test_archive_with_escaping_member_is_refused(tmp_path, no_default_sources, member):
    batches = make_cifar(tmp_path / "src")
    data = tmp_path / "data"
    data.mkdir()
    archive = make_archive(batches, data / "cifar-10-python.tar.gz", extra=member)
    with pytest.raises(ValueError, match="refusing to extract"):
        load_cifar10(data)
    assert sorted(p.name for p in data.iterdir()) == ["cifar-10-python.tar.gz"]
    assert not (tmp_path / "escape.txt").exists()
    assert archive.exists()


def test_corrupt_archive(tmp_path, no_default_sources):
    archive = tmp_path / "cifar-10-python.tar.gz"
    archive.write_bytes(b"\x1f\x8b\x08\x00" + b"garbage" * 100)
    with pytest.raises(ValueError, match="cannot extract.*truncated or corrupt"):
        load_cifar10(tmp_path)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["cifar-10-python.tar.gz"]


def test_missing_data_without_network(tmp_path, monkeypatch, no_default_sources):
    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://www.cs.toronto.edu: None -- no network")

    monkeypatch.setattr(keras.utils, "get_file", offline)
    with pytest.raises(FileNotFoundError) as info:
        load_cifar10()
    message = str(info.value)
    assert "the download from https://www.cs.toronto.edu" in message and "no network" in message
    assert "Point `data_dir`" in message and "keras-home" in message
    with pytest.raises(FileNotFoundError, match="download=False"):
        load_cifar10(download=False)


def test_missing_data_dir(tmp_path, no_default_sources):
    with pytest.raises(FileNotFoundError, match="data_dir does not exist"):
        load_cifar10(tmp_path / "nope")
    with pytest.raises(FileNotFoundError, match="No CIFAR-10 batches in data_dir"):
        load_cifar10(tmp_path)


def test_missing_batch_file(tmp_path, no_default_sources):
    batches = make_cifar(tmp_path)
    (batches / "data_batch_5").unlink()
    with pytest.raises(FileNotFoundError, match="missing data_batch_5"):
        load_cifar10(tmp_path)


@pytest.mark.parametrize(
    "kwargs, message",
    [(dict(train_subset=0), "train_subset"), (dict(validation_split=1.0), "validation_split")],
)
def test_bad_arguments(tmp_path, kwargs, message):
    with pytest.raises(ValueError, match=message):
        load_cifar10(tmp_path, **kwargs)
