"""The package's layers, checked by import-linter with the contracts in pyproject.toml: the
package as it is keeps them, and an import cycle or an upward import put in on purpose breaks them."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def lint_imports(root: Path) -> subprocess.CompletedProcess:
    """lint-imports on the `liveimpro` package under `root`, with the contracts of `root`/pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run([str(LINT_IMPORTS), "--config", str(root / "pyproject.toml"), "--no-cache"],
                          cwd=root, env=env, capture_output=True, text=True, timeout=120)


def test_the_package_keeps_its_contracts():
    done = lint_imports(ROOT)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "0 broken" in done.stdout


@pytest.fixture
def copy(tmp_path):
    """A copy of the package and its contracts, to break on purpose."""
    shutil.copytree(ROOT / "liveimpro", tmp_path / "liveimpro", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    return tmp_path


def add_import(module: Path, line: str) -> None:
    module.write_text(module.read_text() + f"\n{line}  # put in by tests/test_layers.py\n")


@pytest.mark.parametrize("module, line, broken", [
    # melody <-> music.keys: a cycle through two layers
    ("melody.py", "from .music import keys", "Layers point down"),
    # tokens.base <-> tokens.registry: a cycle inside one subpackage
    ("tokens/base.py", "from . import registry", "No import cycles"),
    # the real-time path reaching torch through a model module
    ("midi/clock.py", "from ..lstm import network", "import no torch"),
])
def test_a_cycle_or_an_upward_import_breaks_a_contract(copy, module, line, broken):
    assert lint_imports(copy).returncode == 0
    add_import(copy / "liveimpro" / module, line)
    done = lint_imports(copy)
    assert done.returncode != 0
    contract_lines = [text for text in done.stdout.splitlines() if "BROKEN" in text or broken in text]
    assert any(broken in text for text in contract_lines), done.stdout
