"""The commands and code in README.md and docs/*.md stay true.

Every command line of their bash blocks is parsed by the parser it names (a flag that no
longer exists, or a bad value, fails here), every `make` target they name exists, and the
quick ones run for real, as a newcomer would type them. The Python blocks run too.
"""

import importlib.util
import os
import re
import shlex
import subprocess
import sys

import pytest

import kreg_cli
from tests.conftest import REPO, _data_dir

DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]


def blocks(language: str):
    """`(document, code)` for every fenced block in `language`."""
    found = []
    for document in DOCUMENTS:
        text = document.read_text(encoding="utf-8")
        for code in re.findall(rf"```{language}\n(.*?)```", text, flags=re.S):
            found.append((document.name, code))
    return found


def commands():
    """Each command line of the bash blocks: comments, continuations and `VAR=value` gone."""
    lines = []
    for name, code in blocks("bash"):
        code = code.replace("\\\n", " ")
        pending = ""
        for line in code.splitlines():
            try:
                words = shlex.split(pending + line, comments=True)
            except ValueError:  # a quoted value goes on over the next line
                pending += line + "\n"
                continue
            pending = ""
            while words and re.match(r"^[A-Z_]+=", words[0]):
                words = words[1:]
            if words:
                lines.append(pytest.param(words, id=f"{name}: {' '.join(words)}"))
    return lines


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "experiments" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("words", commands())
def test_every_documented_command_parses(words, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # parsers that check output paths see a clean folder
    program, args = words[0], words[1:]
    if program.endswith("python") and args[0].startswith("bench/"):
        assert (REPO / args[0]).is_file(), f"{args[0]} does not exist"
    elif program == "python":
        script = args[0]
        assert (REPO / script).is_file(), f"{script} does not exist"
        module = load_script(os.path.basename(script).removesuffix(".py"))
        module.parse_args(args[1:])
    elif program == "kreg":
        kreg_cli.build_parser()[0].parse_args(args)
    elif program == "make":
        known = set(re.findall(r"^([a-z-]+):", (REPO / "Makefile").read_text(), flags=re.M))
        assert set(args) <= known, f"make {args}: no such target"
    elif program == "tensorboard":
        assert args[0] == "--logdir" and len(args) == 2
    else:
        pytest.fail(f"a documented command this test does not know how to check: {words}")


# Quick enough to run for real (seconds), with what they print checked.
RUN_FOR_REAL = {
    ("kreg", "convert", "--lambd", "0.7", "--examples", "211", "--keep-prob", "0.86"): "L2(",
    ("python", "experiments/football.py", "--lambd", "0.7", "--precision", "float64"): (
        "0.9383886255924171"
    ),
}


def _quick(words):
    # The football run trains 30 000 steps in a new process; in-process tests check its
    # numbers on every run (test_experiment_football), this one with `make test-slow`.
    marks = [pytest.mark.slow] if "football.py" in words[1] else []
    return pytest.param(words, marks=marks, id=" ".join(words))


@pytest.mark.parametrize("words", [_quick(w) for w in sorted(RUN_FOR_REAL)])
def test_quick_documented_commands_run(words, tmp_path):
    documented = [p.values[0] for p in commands()]
    inline = any(" ".join(words) in " ".join(doc.read_text().split()) for doc in DOCUMENTS)
    assert list(words) in documented or inline, f"{words} is no longer documented"
    if "football.py" in words[1] and _data_dir() is None:
        pytest.skip("KREG_DATA_DIR is not set: the course's football data is not available")
    program = [sys.executable, str(REPO / words[1])] if words[0] == "python" else None
    program = program or [sys.executable, "-m", "kreg_cli"]
    argv = words[2:] if words[0] == "python" else words[1:]
    done = subprocess.run(
        [*program, *argv], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    assert RUN_FOR_REAL[words] in done.stdout


def givens(document: str, code: str) -> dict:
    """The names a fragment uses but does not define (its reader's own model and data)."""
    import keras
    import numpy as np

    rng = np.random.RandomState(0)
    if document == "library.md" and "model.fit(x, y" in code:
        from kreg.models import football_classifier

        model = football_classifier(l2=0.01, dropout=0.1)
        model.compile(optimizer="sgd", loss="binary_crossentropy", metrics=["accuracy"])
        x, x_val = rng.rand(64, 2), rng.rand(16, 2)
        y, y_val = (x[:, :1] > 0.5) * 1.0, (x_val[:, :1] > 0.5) * 1.0
        return dict(keras=keras, model=model, x=x, y=y, x_val=x_val, y_val=y_val)
    if document == "dropout.md":
        return dict(x=rng.rand(64, 784), y=rng.randint(0, 10, 64), x_test=rng.rand(8, 784))
    return {}


def test_python_blocks_run(tmp_path, monkeypatch):
    if _data_dir() is None:
        pytest.skip("KREG_DATA_DIR is not set: the README's example loads the course's data")
    monkeypatch.chdir(tmp_path)
    namespaces = {}
    for document, code in blocks("python"):
        namespace = namespaces.setdefault(document, {})
        namespace.update(givens(document, code))
        code = re.sub(r"epochs=\d+", "epochs=2", code)  # the API, not the training, is checked
        exec(compile(code, f"{document} python block", "exec"), namespace)
    readme, library = namespaces["README.md"], namespaces["library.md"]
    dropout = namespaces["dropout.md"]
    assert len(readme["history"].history["penalty"]) == 2, "the README's model trained"
    assert readme["mean"].shape == (64, 10), "the README's MC dropout example ran"
    assert library["history"].costs, "the library page's football example trained"
    assert (tmp_path / "runs" / "mine" / "train").is_dir(), "the fragment's TensorBoard run"
    assert dropout["mean"].shape == (8, 10) and dropout["std"].shape == (8, 10)
