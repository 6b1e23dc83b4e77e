"""Saved kreg models load in a new process after `import kreg`, bit for bit (safe_mode on)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import REPO

HELPER = REPO / "tests" / "lab" / "saving_roundtrip.py"


def helper(mode, folder):
    completed = subprocess.run(
        [sys.executable, str(HELPER), mode, str(folder)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return completed.stdout


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    folder = tmp_path_factory.mktemp("saved")
    helper("save", folder)
    return folder


def test_every_model_kind_loads_after_import_kreg_bit_for_bit(saved):
    report = json.loads(helper("load", saved).splitlines()[-1])
    assert len(report) == 9
    assert report == {name: "identical" for name in report}


def test_without_kreg_the_error_names_the_kreg_class(saved):
    report = json.loads(helper("bare", saved).splitlines()[-1])
    for name, outcome in report.items():
        if "football_keras_dropout" == name:
            assert "kreg>L2" in outcome, outcome[-500:]
        else:
            assert "kreg>" in outcome, (name, outcome[-500:])


def test_import_kreg_registers_every_serializable_class():
    import ast

    declared = set()
    for path in (REPO / "kreg").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef) and any(
                "register_keras_serializable" in ast.unparse(d) for d in node.decorator_list
            ):
                declared.add(f"kreg>{node.name}")
    code = (
        "import kreg, keras\n"
        "print(sorted(k for k in keras.saving.get_custom_objects() if k.startswith('kreg>')))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert len(declared) >= 6
    assert set(ast.literal_eval(out.strip().splitlines()[-1])) == declared
