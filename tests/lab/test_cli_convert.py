import subprocess
import sys

from kreg.lab.cli import main


def test_convert_prints_keras_arguments(capsys):
    assert main(["convert", "--lambd", "0.7", "--examples", "211", "--keep-prob", "0.86"]) == 0
    out = capsys.readouterr().out
    assert f"L2({0.7 / 422!r})" in out
    assert "Dropout(rate=0.14)" in out


def test_convert_rejects_bad_keep_prob(capsys):
    assert main(["convert", "--keep-prob", "1.5"]) == 2
    captured = capsys.readouterr()
    assert "Received: keep_prob=1.5" in captured.err
    assert captured.out == ""


def test_console_script_is_installed_and_quiet():
    result = subprocess.run(
        [sys.executable, "-m", "kreg_cli", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("kreg ")
    assert "cuda" not in result.stderr.lower(), result.stderr


def test_kreg_entry_point_runs():
    from pathlib import Path

    script = Path(sys.executable).parent / "kreg"
    assert script.exists(), "the `kreg` console script is not installed"
    result = subprocess.run([str(script), "--version"], capture_output=True, text=True, check=True)
    assert result.stdout.strip().startswith("kreg 0.")


def test_bare_kreg_prints_usage_and_fails(capsys):
    assert main([]) == 2
    err = capsys.readouterr().err
    assert (
        err.startswith("usage: kreg")
        and "give a command: convert, inspect, predict or sweep" in err
    )


def test_convert_help_has_a_description_and_an_example(capsys):
    import pytest

    with pytest.raises(SystemExit):
        main(["convert", "--help"])
    out = capsys.readouterr().out
    assert "kernel_regularizer=L2(lambd / (2 m))" in out
    assert "example: kreg convert --lambd 0.7 --examples 211 --keep-prob 0.86" in out
