"""The installed layout: kreg.models and kreg.datasets, no top-level `models`/`datasets`."""

import subprocess
import sys
import zipfile

from tests.conftest import REPO


def test_mapped_subpackages_import_from_their_folders():
    import kreg.datasets
    import kreg.models

    assert kreg.models.__file__.startswith(str(REPO / "models"))
    assert kreg.datasets.__file__.startswith(str(REPO / "datasets"))


def test_wheel_installs_only_the_kreg_package(tmp_path):
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(tmp_path)]
    subprocess.run([*command, str(REPO)], check=True, capture_output=True)
    (wheel,) = tmp_path.glob("kreg-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in names if not name.startswith("kreg-")}
    # kreg_cli.py: the command's parser, which must not import the kreg package.
    assert top_level == {"kreg", "kreg_cli.py"}
    (entry_points,) = [n for n in names if n.endswith(".dist-info/entry_points.txt")]
    assert "kreg = kreg_cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()
    assert "kreg/models/football.py" in names and "kreg/datasets/football.py" in names
    # Every module of the source tree is in the wheel (an editable install would hide a
    # subpackage missing from setup.cfg).
    sources = {f"kreg/{p.relative_to(REPO / 'kreg')}" for p in (REPO / "kreg").rglob("*.py")}
    for folder in ("models", "datasets"):
        sources |= {f"kreg/{folder}/{p.name}" for p in (REPO / folder).glob("*.py")}
    assert sources - set(names) == set()
