"""kreg.lab.io: atomic result files with ordinary permissions, and output paths checked first."""

import json
import os
import stat
import subprocess
import sys

import pytest

from kreg.lab.io import atomic_write, check_output_dir, check_output_file, write_json


def test_files_get_the_mode_open_would_give(tmp_path):
    # In a fresh process, as a user's shell would set its umask; three umasks in one process.
    code = (
        "import os, sys\n"
        "from kreg.lab.io import write_json\n"
        "for mask in (0o022, 0o077, 0o002):\n"
        "    os.umask(mask)\n"
        "    write_json(f'{sys.argv[1]}/{mask:o}.json', {'a': 1})\n"
        "    open(f'{sys.argv[1]}/{mask:o}.plain', 'w').close()\n"
    )
    subprocess.run([sys.executable, "-c", code, str(tmp_path)], check=True)
    for mask, mode in ((0o022, 0o644), (0o077, 0o600), (0o002, 0o664)):
        made, plain = tmp_path / f"{mask:o}.json", tmp_path / f"{mask:o}.plain"
        assert stat.S_IMODE(os.stat(made).st_mode) == mode
        assert stat.S_IMODE(os.stat(made).st_mode) == stat.S_IMODE(os.stat(plain).st_mode)
        assert json.loads(made.read_text()) == {"a": 1}


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "plot.png"
    target.write_bytes(b"old")

    def fail(tmp):
        with open(tmp, "wb") as f:
            f.write(b"half")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        atomic_write(target, fail)
    assert target.read_bytes() == b"old" and list(tmp_path.iterdir()) == [target]


def test_parents_are_created(tmp_path):
    write_json(tmp_path / "a" / "b" / "r.json", [1])
    assert json.loads((tmp_path / "a" / "b" / "r.json").read_text()) == [1]


@pytest.mark.parametrize(
    "make, check, message",
    [
        (lambda p: p.mkdir(), check_output_file, "--flag {p} is a directory"),
        (lambda p: p.write_text(""), check_output_dir, "--flag {p} is an existing file"),
    ],
)
def test_wrong_kind_of_path_is_named(tmp_path, make, check, message):
    path = tmp_path / "x"
    make(path)
    with pytest.raises(ValueError, match=message.format(p=path)):
        check(path, "--flag")


def test_a_path_below_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ValueError, match="is a file; nothing can be written below it"):
        check_output_file(tmp_path / "file" / "sub" / "r.json", "--json")
    check_output_file(tmp_path / "new" / "r.json", "--json")  # creatable: no error
    check_output_dir(None, "--plots")
