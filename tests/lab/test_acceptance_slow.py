"""The CIFAR-10 acceptance run: minutes, not seconds. `make test-slow` runs it."""

import importlib.util
import json
import os
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = pytest.mark.slow


def test_l2_and_dropout_close_the_generalization_gap(tmp_path):
    data_dir = os.environ.get("KREG_DATA_DIR")
    subset = Path(data_dir or "", "cifar10-subset")
    if not data_dir or not subset.is_dir():
        pytest.skip(
            "KREG_DATA_DIR has no cifar10-subset: the real CIFAR-10 subset is not available"
        )
    spec = importlib.util.spec_from_file_location("cifar", REPO / "experiments" / "cifar_l2.py")
    cifar = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cifar)
    code = cifar.main(
        [
            "--quick",
            "--epochs",
            "30",
            "--data-dir",
            str(subset),
            "--verbose",
            "0",
            "--variants",
            "baseline,l2+dropout",
            "--logdir",
            str(tmp_path / "runs"),
            "--json",
            str(tmp_path / "r.json"),
        ]
    )
    assert code == 0
    runs = {r["name"]: r for r in json.loads((tmp_path / "r.json").read_text())["runs"]}
    base, both = runs["baseline"], runs["l2+dropout"]
    assert both["test_accuracy"] - base["test_accuracy"] >= 0.06
    assert both["gap"] <= 0.8 * base["gap"]
