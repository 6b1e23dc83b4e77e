"""The wheel alone: built with `python -m build`, installed into a clean environment with keras
and jax only, it runs the README's library examples under JAX without TensorFlow."""

import re
import subprocess
import sys
import venv

import pytest

from tests.conftest import REPO


def _readme_core_blocks() -> str:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    section = text.split("## Use it in your model", 1)[1].split("\n## ", 1)[0]
    return "\n".join(re.findall(r"```python\n(.*?)```", section, flags=re.S))


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(out), str(REPO)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    (built,) = out.glob("kreg-*.whl")
    return built


def test_the_wheel_holds_the_core_and_the_lab_but_no_tests(wheel):
    import zipfile

    names = zipfile.ZipFile(wheel).namelist()
    assert "kreg/layers/dropblock.py" in names and "kreg/models/vgg.py" in names
    assert "kreg/datasets/cifar10.py" in names and "kreg/lab/fullbatch/fused.py" in names
    assert "kreg_cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "models/", "datasets/"))]
    metadata = (
        zipfile.ZipFile(wheel).read(next(n for n in names if n.endswith("METADATA"))).decode()
    )
    requires = [line for line in metadata.splitlines() if line.startswith("Requires-Dist:")]
    core = [line for line in requires if "extra ==" not in line]
    assert sorted(r.split()[1].split(">")[0].split("!")[0] for r in core) == ["keras", "numpy"]


def test_the_readme_examples_run_from_the_wheel_with_keras_and_jax_only(wheel, tmp_path):
    environment = tmp_path / "venv"
    venv.create(environment, with_pip=True)
    python = environment / "bin" / "python"
    install = subprocess.run(
        [str(python), "-m", "pip", "install", "--quiet", str(wheel), "jax"],
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert install.returncode == 0, install.stderr[-3000:]
    script = tmp_path / "example.py"
    script.write_text(
        "import sys\n" + _readme_core_blocks() + "\n"
        "assert 'tensorflow' not in sys.modules, 'TensorFlow was imported'\n"
        "assert keras.backend.backend() == 'jax'\n"
        "print('README examples ran', len(history.history['penalty']))\n"
    )
    run = subprocess.run(
        [str(python), str(script)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=600,
        env={"PATH": "/usr/bin:/bin", "KERAS_BACKEND": "jax", "HOME": str(tmp_path)},
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert "README examples ran 3" in run.stdout
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout
    assert "tensorflow" not in listed.lower() and "torch" not in listed.lower()
