"""A plain (non-editable) install works away from the source tree.

The project is built into a wheel and installed into a fresh virtual environment, as
``pip install .`` does; the commands then run from a folder that is not the source tree,
so every file they need (the migrations, the categories, the pages' templates and scripts)
must come from the installed packages, and npm's ``web/node_modules`` must not be shipped.
The build uses this environment's setuptools (``--no-build-isolation``: no download), and
the new environment sees this one's dependencies through a ``.pth`` line, not the project
itself (this environment's editable install is not followed: ``.pth`` files of an added
folder are not read).
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import sysconfig
import venv
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text

from geo.infra.settings import PROJECT_ROOT

pytestmark = pytest.mark.slow

# what a source checkout holds that is not the project: never copied into the build
NOT_SOURCE = shutil.ignore_patterns(
    ".git",
    ".venv",
    "local",
    "artifacts",
    "build",
    "*.egg-info",
    "__pycache__",
    ".pytest_cache",
    ".ruff_cache",
    ".import_linter_cache",
)

CHECK = """
import json, sys
import geo, migrations, web
from alembic.script import ScriptDirectory
from geo.city.catalog import CATEGORIES_FILE, load_categories
from geo.infra.migrate import alembic_config, upgrade
from sqlalchemy import create_engine, text
from web import assets
from web.registry import PAGES
from web.render import ENV

url = sys.argv[1]
upgrade(url)
engine = create_engine(url)
with engine.begin() as conn:
    loaded = load_categories(conn)
    stored = conn.execute(text("SELECT count(*) FROM categories")).scalar_one()
engine.dispose()
print(json.dumps({
    "geo": geo.__file__,
    "migrations": alembic_config(url).get_main_option("script_location"),
    "heads": list(ScriptDirectory.from_config(alembic_config(url)).get_heads()),
    "categories_file": str(CATEGORIES_FILE),
    "loaded": loaded,
    "stored": stored,
    "templates": [ENV.get_template(p.template).filename for p in PAGES],
    "scripts": [str(assets.STATIC_DIR / p.script) for p in PAGES if p.script],
    "node_modules": assets.NODE_MODULES.exists(),
}))
"""


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    """A virtual environment with the project installed from a wheel, as ``pip install .``."""
    root = tmp_path_factory.mktemp("install")
    source = root / "source"
    shutil.copytree(PROJECT_ROOT, source, ignore=NOT_SOURCE, symlinks=True)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q"]
        + ["-w", str(root / "dist"), str(source)],
        check=True,
        capture_output=True,
    )
    wheel = next((root / "dist").glob("qala_map-*.whl"))
    env = root / "venv"
    venv.create(env, with_pip=True)
    python = env / "bin" / "python"
    subprocess.run(
        [python, "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)],
        check=True,
        capture_output=True,
    )
    site = subprocess.run(
        [python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (Path(site) / "qala_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return env


def run(cmd: list, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_the_installed_command_answers_help(installed, tmp_path):
    done = run([installed / "bin" / "qala", "--help"], tmp_path)
    assert done.returncode == 0, done.stderr
    assert "db" in done.stdout and "import" in done.stdout


def test_an_installed_package_migrates_and_loads_categories_from_its_own_files(
    installed, tmp_path, make_database
):
    url = make_database()
    done = run([installed / "bin" / "python", "-c", CHECK, url], tmp_path)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout.splitlines()[-1])
    site = str(installed)
    for key in ("geo", "migrations", "categories_file"):
        assert got[key].startswith(site), (key, got[key])  # not the source tree
    assert Path(got["migrations"], "env.py").is_file()
    assert Path(got["migrations"], "script.py.mako").is_file()
    assert len(got["heads"]) == 1
    assert got["loaded"] == got["stored"] == 27
    assert got["templates"] and got["scripts"]
    for path in got["templates"] + got["scripts"]:
        assert path.startswith(site) and Path(path).is_file(), path
    assert not got["node_modules"]  # npm's folder is not shipped (npm ci where pages run)
    engine = create_engine(url)
    with engine.connect() as conn:
        version = conn.execute(text("SELECT version_num FROM alembic_version")).scalar_one()
    engine.dispose()
    assert version == got["heads"][0]
