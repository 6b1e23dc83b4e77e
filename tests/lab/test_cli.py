"""The `kreg` command's parser (kreg_cli): help without TensorFlow, defaults in every help."""

import subprocess
import sys

import pytest

import kreg_cli
from tests.conftest import REPO


@pytest.mark.parametrize("argv", [["--help"], ["sweep", "--help"], ["predict", "--help"], []])
def test_help_and_usage_do_not_import_tensorflow(argv):
    code = (
        "import sys, kreg_cli\n"
        f"try:\n    code = kreg_cli.main({argv!r})\nexcept SystemExit as e:\n    code = e.code\n"
        "heavy = sorted(m for m in ('tensorflow', 'keras', 'kreg', 'numpy') if m in sys.modules)\n"
        "print('imported:', heavy, 'exit:', code)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=REPO, check=True
    )
    expected_exit = 2 if argv == [] else 0
    assert done.stdout.splitlines()[-1] == f"imported: [] exit: {expected_exit}", done.stderr
    if argv == []:
        assert done.stderr.startswith("usage: kreg") and "give a command" in done.stderr


def _actions(parser):
    return [a for a in parser._actions if a.dest not in ("help", "command")]


def test_every_flag_has_help_that_states_its_default():
    parser, subcommands = kreg_cli.build_parser()
    assert "$KREG_DATA_DIR" in parser.format_help()
    for name, sub in subcommands.items():
        assert sub.description and "example: kreg " + name in sub.format_help(), name
        for action in _actions(sub):
            assert action.help, f"kreg {name} {action.option_strings or action.dest}: no help"
            if action.option_strings:  # a flag: its default is said (positionals have none)
                text = action.help % {"default": action.default}
                assert "default" in text, f"kreg {name} {action.option_strings}: {text!r}"


@pytest.mark.parametrize(
    "argv, message",
    [
        (["predict", "m.keras", "x.npy", "--top", "0"], "--top must be a positive integer, got 0"),
        (["sweep", "football", "--steps", "0"], "--steps must be a positive integer, got 0"),
        (["sweep", "cifar", "--val-fraction", "1"], "--val-fraction must be in (0, 1), got 1.0"),
    ],
)
def test_argument_errors_exit_2_before_any_command_runs(argv, message, capsys):
    with pytest.raises(SystemExit) as info:
        kreg_cli.main(argv)
    assert info.value.code == 2 and message in capsys.readouterr().err


class _ParsedError(Exception):
    pass


@pytest.mark.parametrize("script", ["cifar_l2", "football"])
def test_every_experiment_flag_has_help_that_states_its_default(script, monkeypatch, capsys):
    import argparse
    import importlib.util

    spec = importlib.util.spec_from_file_location(script, REPO / "experiments" / f"{script}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    def capture(parser, *args, **kwargs):
        raise _ParsedError(parser)

    monkeypatch.setattr(argparse.ArgumentParser, "parse_args", capture)
    with pytest.raises(_ParsedError) as parsed:
        module.parse_args([])
    parser = parsed.value.args[0]
    missing = []
    for action in _actions(parser):
        text = (action.help or "") % {"default": action.default, "choices": action.choices}
        if "default" not in text:
            missing.append(f"{action.option_strings}: {text!r}")
    assert not missing, f"{script}.py flags without their default: {missing}"
    assert "KREG_DATA_DIR" in parser.format_help()


def test_the_parsers_precisions_are_the_librarys():
    from kreg.lab.fullbatch import PRECISIONS

    assert kreg_cli.PRECISIONS == PRECISIONS


def test_football_sweep_refuses_a_precision(capsys):
    with pytest.raises(SystemExit) as info:
        kreg_cli.main(["sweep", "football", "--precision", "mixed_bfloat16"])
    assert info.value.code == 2 and "--precision is for the cifar sweep" in capsys.readouterr().err
