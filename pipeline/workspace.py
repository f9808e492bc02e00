"""A workspace: the folder that holds an office's inbox, archive, templates, policies and catalog."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import CONFIG_NAME, Config, default_config_text, env_workspace, load_config
from pipeline.errors import ConfigurationError

#: The folder this package lives in: a source checkout (a workspace of its own), or site-packages.
CHECKOUT = Path(__file__).resolve().parent.parent

#: The default templates and policies ``accord init`` copies, shipped inside the package.
#: The files live here, as package data, and the checkout's top-level ``templates`` and
#: ``retention_policies`` are relative symlinks to these folders (so that the checkout stays a
#: workspace). Not the reverse: setuptools and an sdist would carry a symlink inside the package
#: that points outside it, and the wheel would lose the files; this way the wheel holds regular
#: files, an editable install finds the same ones, and git holds one copy of each.
DEFAULTS = Path(__file__).resolve().parent / "defaults"


@dataclass(frozen=True)
class Workspace:
    root: Path

    @property
    def inbox(self) -> Path:
        return self.root / "inbox"

    @property
    def staging(self) -> Path:
        """Files claimed from the inbox and being processed (hidden from the watcher)."""
        return self.inbox / ".staging"

    @property
    def processed(self) -> Path:
        return self.inbox / "processed"

    @property
    def failed(self) -> Path:
        return self.inbox / "failed"

    @property
    def archive(self) -> Path:
        return self.root / "archive"

    @property
    def templates(self) -> Path:
        return self.root / "templates"

    @property
    def policies(self) -> Path:
        return self.root / "retention_policies"

    @property
    def catalog(self) -> Path:
        return self.root / "catalog.db"

    @property
    def config_file(self) -> Path:
        return self.root / CONFIG_NAME

    @property
    def pki(self) -> Path:
        return self.root / "pki"

    @property
    def state(self) -> Path:
        """Private run-time state: the watcher's status, the portal's accounts and sessions."""
        return self.root / ".accord"

    @property
    def accounts(self) -> Path:
        return self.state / "accounts.db"

    @property
    def converter_dir(self) -> Path:
        """The converters' working folders (LibreOffice profiles, documents being converted)."""
        return self.state / "convert"

    def load_config(self) -> Config:
        """``accord.yaml``, with the converters working in this workspace's private folder (not in a
        shared temp folder) unless ``converter.work_dir`` names another."""
        config = load_config(self.config_file)
        if config.converter.work_dir is not None:
            return config
        return dataclasses.replace(config, converter=dataclasses.replace(config.converter,
                                                                         work_dir=self.converter_dir))

    def ensure_dirs(self) -> None:
        """Create the runtime folders that may be missing (inbox, staging, results, archive)."""
        for folder in (self.inbox, self.processed, self.failed, self.archive):
            folder.mkdir(parents=True, exist_ok=True)
        self.staging.mkdir(parents=True, exist_ok=True, mode=0o700)


def resolve_workspace(path: str | os.PathLike[str] | None = None) -> Workspace:
    """The workspace named on the command line, else ``ACCORD_HOME``, else the current folder when it is
    a workspace, else the source checkout when Accord runs from one."""
    chosen = path or env_workspace()
    root = Path(chosen).expanduser().resolve() if chosen else _default_root()
    if not (root / "templates").is_dir():
        raise ConfigurationError(
            f"{root} is not an Accord workspace (it has no templates/ folder); "
            "create one with 'accord init PATH'."
        )
    return Workspace(root)


def _default_root() -> Path:
    here = Path.cwd().resolve()
    if _looks_like_workspace(here):
        return here
    if (CHECKOUT / "pyproject.toml").is_file() and _looks_like_workspace(CHECKOUT):
        return CHECKOUT
    raise ConfigurationError(
        f"No workspace was named and {here} is not one (it has no templates/ folder or {CONFIG_NAME}). "
        "Create one with 'accord init PATH', then run accord inside it, pass --workspace PATH "
        "or set ACCORD_HOME to it."
    )


def _looks_like_workspace(folder: Path) -> bool:
    return (folder / "templates").is_dir() or (folder / CONFIG_NAME).is_file()


def init_workspace(path: Path) -> Workspace:
    """Create a new workspace at ``path`` with the default templates, policies and configuration
    (``office.found_office`` also writes its owner into ``access.yaml``)."""
    root = path.expanduser().resolve()
    if (root / "templates").exists() or (root / CONFIG_NAME).exists():
        raise ConfigurationError(f"{root} already holds a workspace; nothing was changed.")
    root.mkdir(parents=True, exist_ok=True)
    for folder in ("templates", "retention_policies"):
        shutil.copytree(DEFAULTS / folder, root / folder, ignore=_ignore_private)
    (root / CONFIG_NAME).write_text(default_config_text(), encoding="utf-8")
    ws = Workspace(root)
    ws.ensure_dirs()
    return ws


def _ignore_private(_dir: str, names: list[str]) -> list[str]:
    return [n for n in names if n.startswith((".", "_", "~$"))]
