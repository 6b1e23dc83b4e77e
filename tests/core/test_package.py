"""What `import kreg` does to a user's process, and the direction of kreg's imports."""

import ast
import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import keras
import pytest

from tests.conftest import REPO

BACKEND = keras.backend.backend()
PACKAGE = REPO / "kreg"
# The core: everything in kreg/ outside kreg/lab, plus the mapped models/ and datasets/.
CORE_FILES = sorted(
    [p for p in PACKAGE.rglob("*.py") if "lab" not in p.relative_to(PACKAGE).parts]
    + list((REPO / "models").glob("*.py"))
    + list((REPO / "datasets").glob("*.py"))
)


def _module_name(path: Path) -> str:
    relative = path.relative_to(REPO).with_suffix("")
    parts = list(relative.parts)
    if parts[0] in ("models", "datasets"):
        parts = ["kreg", *parts]
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path) -> list[tuple[str, bool]]:
    """Every module `path` imports, with whether the import sits inside a function."""
    tree = ast.parse(path.read_text())
    found = []

    def visit(node, in_function):
        for child in ast.iter_child_nodes(node):
            inside = in_function or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            if isinstance(child, ast.Import):
                found.extend((alias.name, inside) for alias in child.names)
            elif isinstance(child, ast.ImportFrom) and child.module and child.level == 0:
                found.append((child.module, inside))
                found.extend((f"{child.module}.{alias.name}", inside) for alias in child.names)
            visit(child, inside)

    visit(tree, False)
    return found


def test_the_core_never_imports_the_lab_nor_keras_internals():
    offenders = []
    for path in CORE_FILES:
        for name, _ in _imports(path):
            if name.startswith(("kreg.lab", "keras.src", "kreg_cli")) or name == "kreg_cli":
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
    assert not offenders, "\n".join(offenders)


def test_the_core_imports_only_keras_numpy_and_the_standard_library():
    allowed = {"keras", "numpy", "kreg", "tensorflow", "jax", "torch", "scipy"} | set(
        sys.stdlib_module_names
    )
    offenders = []
    for path in CORE_FILES:
        for name, inside in _imports(path):
            top = name.split(".")[0]
            if top not in allowed:
                offenders.append(f"{path.relative_to(REPO)} imports {name}")
            # A backend's own package is imported only inside a function, where the
            # backend is known to be that one; SciPy only inside load_football.
            if top in ("tensorflow", "jax", "torch", "scipy") and not inside:
                offenders.append(f"{path.relative_to(REPO)} imports {name} at module level")
    assert not offenders, "\n".join(offenders)


def test_no_import_cycle_among_kreg_modules():
    files = sorted(set(PACKAGE.rglob("*.py")) | set(CORE_FILES))
    names = {_module_name(p): p for p in files}
    graph = {
        name: {
            target
            for imported, _ in _imports(path)
            for target in (imported, imported.rsplit(".", 1)[0])
            if target in names and target != name
        }
        for name, path in names.items()
    }
    # A package's __init__ importing its own submodules is not a cycle of use.
    for name, targets in graph.items():
        graph[name] = {t for t in targets if not name.startswith(t + ".")}
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in graph[node]:
            if state.get(target) == "open":
                cycle = stack[stack.index(target) :] + [target]
                raise AssertionError("import cycle: " + " -> ".join(cycle))
            if target not in state:
                visit(target)
        stack.pop()
        state[node] = "done"

    for node in graph:
        if node not in state:
            visit(node)


def _fresh_import(code: str) -> dict:
    env = {**os.environ, "KERAS_BACKEND": BACKEND}
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=REPO
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_import_kreg_changes_no_environment_variable_and_picks_no_backend():
    found = _fresh_import(
        "import json, os, sys\n"
        "import keras\n"
        "before = dict(os.environ)\n"
        "import kreg\n"
        "print(json.dumps({'same': dict(os.environ) == before, 'backend': "
        "keras.backend.backend(), 'tensorflow': 'tensorflow' in sys.modules}))"
    )
    assert found["same"] and found["backend"] == BACKEND
    # TensorFlow is imported only when it is the backend (Keras itself imports it then).
    assert found["tensorflow"] == (BACKEND == "tensorflow")


def test_import_kreg_first_imports_tensorflow_only_under_its_backend():
    found = _fresh_import(
        "import json, os, sys\n"
        "before = dict(os.environ)\n"
        "import kreg\n"
        "print(json.dumps({'tensorflow': 'tensorflow' in sys.modules, "
        "'backend': os.environ.get('KERAS_BACKEND')}))"
    )
    assert found["tensorflow"] == (BACKEND == "tensorflow")
    assert found["backend"] == BACKEND


def test_the_lab_names_its_extra_or_its_backend():
    has_tensorflow = importlib.util.find_spec("tensorflow") is not None
    if has_tensorflow and BACKEND == "tensorflow":
        pytest.skip("the lab imports here: the refusals are tested under the other backends")
    with pytest.raises(ImportError) as error:
        import kreg.lab  # noqa: F401
    message = str(error.value)
    if not has_tensorflow:
        assert 'pip install "kreg[tensorflow]"' in message
    else:
        assert f"backend={BACKEND!r}" in message


def test_every_contract_name_imports_with_its_signature():
    import inspect

    from kreg import reference, regularizers
    from kreg.datasets import load_cifar10, load_football
    from kreg.layers import DropBlock2D, InvertedDropout
    from kreg.metrics import expected_calibration_error
    from kreg.models import football_classifier, vgg_cifar10

    def params(function):
        return list(inspect.signature(function).parameters)

    assert params(reference.compute_cost) == ["a3", "Y"]
    assert params(reference.compute_cost_with_regularization) == ["a3", "Y", "parameters", "lambd"]
    assert params(reference.forward_propagation_with_dropout) == [
        "X",
        "parameters",
        "keep_prob",
        "rng",
    ]
    assert params(reference.initialize_parameters) == ["layer_dims", "seed"]
    assert params(regularizers.l2_from_lambda) == ["lambd", "num_examples"]
    assert params(regularizers.rate_from_keep_prob) == ["keep_prob"]
    assert params(InvertedDropout.__init__)[:4] == ["self", "rate", "noise_shape", "seed"]
    assert params(DropBlock2D.__init__)[:4] == ["self", "rate", "block_size", "seed"]
    assert params(expected_calibration_error) == ["y_true", "probs", "num_bins"]
    assert params(football_classifier)[:4] == ["input_dim", "hidden_units", "l2", "dropout"]
    assert params(load_football) == ["path"]
    assert params(load_cifar10)[0] == "data_dir"
    assert callable(vgg_cifar10)
