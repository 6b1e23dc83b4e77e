import numpy as np
import pytest
import scipy.io

from kreg.datasets import load_football, synthetic_football


def write_mat(path, **arrays):
    scipy.io.savemat(path, arrays)
    return path


def good_arrays():
    rng = np.random.RandomState(0)
    return dict(
        X=rng.randn(10, 2),
        y=(rng.rand(10, 1) > 0.5).astype(np.uint8),
        Xval=rng.randn(6, 2),
        yval=(rng.rand(6, 1) > 0.5).astype(np.uint8),
    )


def test_real_file_shapes(football_file):
    x_train, y_train, x_test, y_test = load_football(football_file)
    assert x_train.shape == (211, 2) and y_train.shape == (211, 1)
    assert x_test.shape == (200, 2) and y_test.shape == (200, 1)
    assert set(np.unique(y_train)) == {0.0, 1.0}


def test_reads_kreg_data_dir(tmp_path, monkeypatch):
    (tmp_path / "football").mkdir()
    write_mat(tmp_path / "football" / "data.mat", **good_arrays())
    monkeypatch.setenv("KREG_DATA_DIR", str(tmp_path))
    x_train, y_train, x_test, y_test = load_football()
    np.testing.assert_array_equal(x_train, good_arrays()["X"])
    assert y_test.shape == (6, 1) and y_test.dtype == np.float64


def test_no_path_and_no_data_dir(monkeypatch):
    monkeypatch.delenv("KREG_DATA_DIR", raising=False)
    with pytest.raises(FileNotFoundError, match="KREG_DATA_DIR is not set.*--synthetic"):
        load_football()


def test_missing_file(tmp_path):
    with pytest.raises(FileNotFoundError, match=f"not found: {tmp_path / 'nope.mat'}"):
        load_football(tmp_path / "nope.mat")


def test_not_a_mat_file(tmp_path):
    path = tmp_path / "data.mat"
    path.write_bytes(b"this is not matlab\n" * 20)
    with pytest.raises(ValueError, match=f"{path} is not a readable MATLAB .mat file"):
        load_football(path)


def test_missing_keys(tmp_path):
    arrays = good_arrays()
    del arrays["yval"]
    path = write_mat(tmp_path / "data.mat", **arrays)
    with pytest.raises(ValueError, match=f"{path}: missing yval; expected the keys"):
        load_football(path)


def test_wrong_feature_shape(tmp_path):
    arrays = good_arrays()
    arrays["X"] = np.ones((10, 3))
    path = write_mat(tmp_path / "data.mat", **arrays)
    with pytest.raises(ValueError, match=r"`X` must be a \(examples, 2\) array.*\(10, 3\)"):
        load_football(path)


def test_label_count_mismatch(tmp_path):
    arrays = good_arrays()
    arrays["y"] = np.ones((9, 1))
    path = write_mat(tmp_path / "data.mat", **arrays)
    with pytest.raises(ValueError, match=r"`y` must hold one label per example \(10\)"):
        load_football(path)


def test_labels_not_binary(tmp_path):
    arrays = good_arrays()
    arrays["yval"] = np.full((6, 1), 2.0)
    path = write_mat(tmp_path / "data.mat", **arrays)
    with pytest.raises(ValueError, match=r"`yval` labels must be 0 or 1. Received values \[2.0\]"):
        load_football(path)


def test_non_finite_features(tmp_path):
    arrays = good_arrays()
    arrays["Xval"][0, 0] = np.nan
    path = write_mat(tmp_path / "data.mat", **arrays)
    with pytest.raises(ValueError, match="`Xval` must hold finite numbers"):
        load_football(path)


def test_synthetic_stand_in_matches_shapes_and_is_seeded():
    a = synthetic_football(seed=0)
    b = synthetic_football(seed=0)
    assert [arr.shape for arr in a] == [(211, 2), (211, 1), (200, 2), (200, 1)]
    for left, right in zip(a, b):
        np.testing.assert_array_equal(left, right)
    assert 0.3 < a[1].mean() < 0.7
    assert not np.array_equal(a[0], synthetic_football(seed=1)[0])
