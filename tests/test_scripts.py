"""The scripts in scripts/: no sys.path games, no script importing another (what they share is in the
package, liveimpro.data.training and liveimpro.data.tune_batches), one error wrapper for all
(liveimpro.cli.run_reporting_errors), and soak.py's parts found as scripts/soaking/."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from liveimpro.cli import run_reporting_errors
from liveimpro.errors import UserError

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"
PYTHON_FILES = sorted(SCRIPTS.rglob("*.py"))
SCRIPT_NAMES = {path.stem for path in SCRIPTS.glob("*.py")}


def test_no_script_changes_the_import_path():
    offenders = [str(path.relative_to(SCRIPTS)) for path in sorted(SCRIPTS.rglob("*"))
                 if path.is_file() and "sys.path" in path.read_text(errors="replace")]
    assert offenders == []


@pytest.mark.parametrize("path", PYTHON_FILES, ids=lambda path: str(path.relative_to(SCRIPTS)))
def test_no_script_imports_another_script(path):
    imported = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            imported |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            imported.add(node.module.split(".")[0])
    assert not imported & SCRIPT_NAMES


@pytest.mark.parametrize("path", sorted(SCRIPTS.glob("*.py")), ids=lambda path: path.name)
def test_every_script_reports_errors_through_the_one_wrapper(path):
    main_block = path.read_text().split('if __name__ == "__main__":')[-1]
    assert "run_reporting_errors(" in path.read_text() and "except UserError" not in main_block


def test_run_reporting_errors(capsys):
    def fails():
        raise UserError("no such file")

    def interrupted():
        raise KeyboardInterrupt

    assert run_reporting_errors("train_lstm", fails) == 1
    assert capsys.readouterr().err == "train_lstm: error: no such file\n"
    assert run_reporting_errors("train_lstm", interrupted) == 130
    assert capsys.readouterr().err == ""
    assert run_reporting_errors("x", lambda a, b: a + b, 1, 2) == 3
    assert run_reporting_errors("x", lambda: None) == 0
    with pytest.raises(ZeroDivisionError):  # a bug keeps its traceback
        run_reporting_errors("x", lambda: 1 / 0)


def test_a_script_run_as_a_program_reports_a_user_error_in_one_line(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "export.py"), str(tmp_path / "none.pt"), str(tmp_path / "m")],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1
    assert done.stderr.startswith(f"export: error: {tmp_path / 'none.pt'}: cannot read the checkpoint")
    assert done.stderr.count("\n") == 1


def test_soak_finds_its_parts_without_help_from_the_import_path(tmp_path):
    done = subprocess.run([sys.executable, str(SCRIPTS / "soak.py"), "--help"],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "--minutes" in done.stdout and "--json" in done.stdout
