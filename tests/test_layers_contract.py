"""The layer rule holds: bench -> api -> web -> layers -> geo, and geo imports no web framework.

The contracts live in ``pyproject.toml`` (``[tool.importlinter]``); CI runs ``make test``
only, so this test is how CI checks them.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from geo.infra.settings import PROJECT_ROOT


def test_import_contracts_are_kept():
    lint_imports = Path(sys.executable).parent / "lint-imports"
    run = subprocess.run(
        [str(lint_imports), "--no-cache"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert run.returncode == 0, f"lint-imports failed:\n{run.stdout}\n{run.stderr}"
