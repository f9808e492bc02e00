"""Accord as an installed package: a wheel built from this checkout, installed into a venv of its own.

The wheel is built offline (``pip wheel --no-build-isolation``) from a copy of the package's
sources, installed with ``--no-deps`` into a new venv whose only other path is this project's
``.venv`` site-packages (the dependencies, no network), and run from a folder outside the
checkout: ``accord init``, ``process`` (real LibreOffice), ``verify --all``, ``status``.
The workspace lookup without ``--workspace`` (current folder, then the checkout) is tested here too.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import stat
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from pipeline.errors import ConfigurationError
from pipeline.workspace import CHECKOUT, DEFAULTS, init_workspace, resolve_workspace

from .helpers import EXAMPLES, ROOT

DEFAULT_FILES = [
    "pipeline/defaults/templates/resolution-agreement.docx",
    "pipeline/defaults/templates/resolution-agreement.yaml",
    "pipeline/defaults/templates/mou.docx",
    "pipeline/defaults/templates/mou.yaml",
    "pipeline/defaults/retention_policies/access.yaml",
    "pipeline/defaults/retention_policies/schedules.yaml",
]


def run(args: list[str | Path], cwd: Path, timeout: float = 120) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("ACCORD_HOME", "PYTHONPATH", "VIRTUAL_ENV")}
    return subprocess.run([str(a) for a in args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)


def ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"{result.args} exited {result.returncode}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    """The wheel of this checkout, built offline from a copy of its sources (the checkout gets no build/)."""
    src = tmp_path_factory.mktemp("src")
    shutil.copytree(ROOT / "pipeline", src / "pipeline", symlinks=True,
                    ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, src / name)
    out = tmp_path_factory.mktemp("wheel")
    ok(run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "--no-index",
            "-q", "-w", out, src], cwd=out))
    (built,) = out.glob("accord-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel, tmp_path_factory) -> Path:
    """A new venv holding the wheel; the dependencies come from this project's .venv through a .pth file."""
    venv = tmp_path_factory.mktemp("venv") / "new"
    ok(run([sys.executable, "-m", "venv", "--without-pip", venv], cwd=venv.parent))
    new_python = venv / "bin" / "python"
    purelib = Path(ok(run([new_python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          cwd=venv.parent)).strip())
    (purelib / "accord-test-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    ok(run([sys.executable, "-m", "pip", "--python", new_python, "install", "-q", "--no-deps", "--no-index",
            wheel], cwd=venv.parent))
    return venv


def test_checkout_links_its_workspace_folders_to_the_package_defaults():
    """The checkout's templates/ and retention_policies/ are relative links to the one copy in the package."""
    for folder in ("templates", "retention_policies"):
        link = ROOT / folder
        assert link.is_symlink() and not os.path.isabs(os.readlink(link)), folder
        assert link.resolve() == DEFAULTS / folder
    spec = importlib.util.spec_from_file_location("make_templates", ROOT / "tools" / "make_templates.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.DEFAULT_OUT.resolve() == DEFAULTS / "templates"


def test_wheel_holds_the_defaults_as_regular_files(wheel):
    """The wheel carries every default template and policy as a regular file, not a link."""
    with zipfile.ZipFile(wheel) as zf:
        entries = {info.filename: info for info in zf.infolist()}
        for name in DEFAULT_FILES:
            assert name in entries, f"{name} is missing from the wheel"
            mode = entries[name].external_attr >> 16
            assert not stat.S_ISLNK(mode) and entries[name].file_size > 0, name
            assert zf.read(name) == (ROOT / name).read_bytes(), name


@pytest.mark.slow
def test_installed_package_creates_processes_and_verifies_a_workspace(installed, tmp_path):
    """From a folder outside the checkout, the installed accord makes a workspace, seals both examples and verifies them."""
    accord = installed / "bin" / "accord"
    where = ok(run([installed / "bin" / "python", "-c", "import pipeline; print(pipeline.__file__)"], cwd=tmp_path))
    assert Path(where.strip()).is_relative_to(installed) and not Path(where.strip()).is_relative_to(ROOT)

    ok(run([accord, "init", "WS"], cwd=tmp_path))
    ws = tmp_path / "WS"
    for folder in ("templates", "retention_policies"):
        assert (ws / folder).is_dir() and not (ws / folder).is_symlink()
        for file in (ws / folder).iterdir():
            assert file.is_file() and not file.is_symlink(), file
    assert (ws / "templates" / "mou.docx").read_bytes() == (ROOT / "templates" / "mou.docx").read_bytes()

    for name in ("resolution-agreement.yaml", "mou.yaml"):
        shutil.copy(EXAMPLES / name, ws / "inbox" / name)
    ok(run([accord, "process", "--quiet", "--workspace", ws], cwd=tmp_path))
    assert "2 of 2 record(s) verified" in ok(run([accord, "verify", "--all", "--workspace", ws], cwd=tmp_path))
    # Without --workspace or ACCORD_HOME, the current folder is the workspace when it is one.
    assert json.loads(ok(run([accord, "status", "--json"], cwd=ws)))["records"] == 2
    # The converter worked inside the workspace's private folder and left nothing there.
    convert = ws / ".accord" / "convert"
    assert convert.is_dir() and list(convert.iterdir()) == []


def test_installed_accord_outside_any_workspace_says_how_to_make_one(installed, tmp_path):
    """Run where there is no workspace, the installed accord says so and names accord init, without a traceback."""
    result = run([installed / "bin" / "accord", "status"], cwd=tmp_path)
    assert result.returncode != 0
    assert "accord init" in result.stderr and str(tmp_path) in result.stderr
    assert "site-packages" not in result.stderr and "Traceback" not in result.stderr


class TestWorkspaceLookup:
    """Which workspace a command uses when none is named."""

    def test_current_folder_is_used_when_it_is_a_workspace(self, tmp_path, monkeypatch):
        """A current folder holding a workspace wins over the checkout."""
        ws = init_workspace(tmp_path / "ws")
        monkeypatch.delenv("ACCORD_HOME", raising=False)
        monkeypatch.chdir(ws.root)
        assert resolve_workspace(None).root == ws.root

    def test_folder_with_only_accord_yaml_is_a_workspace(self, tmp_path, monkeypatch):
        """A current folder with accord.yaml but no templates/ is taken as the workspace, and its problem named."""
        (tmp_path / "accord.yaml").write_text("{}\n", encoding="utf-8")
        monkeypatch.delenv("ACCORD_HOME", raising=False)
        monkeypatch.chdir(tmp_path)
        with pytest.raises(ConfigurationError, match="has no templates/ folder"):
            resolve_workspace(None)

    def test_checkout_is_used_elsewhere(self, tmp_path, monkeypatch):
        """Run from this source checkout and outside any workspace, the checkout is the workspace."""
        monkeypatch.delenv("ACCORD_HOME", raising=False)
        monkeypatch.chdir(tmp_path)
        assert resolve_workspace(None).root == CHECKOUT

    def test_named_workspace_and_accord_home_come_first(self, tmp_path, monkeypatch):
        """--workspace beats ACCORD_HOME, and ACCORD_HOME beats the current folder."""
        named, home, here = (init_workspace(tmp_path / n) for n in ("named", "home", "here"))
        monkeypatch.chdir(here.root)
        monkeypatch.setenv("ACCORD_HOME", str(home.root))
        assert resolve_workspace(named.root).root == named.root
        assert resolve_workspace(None).root == home.root
