"""What one portal process shares between requests: the workspace, its settings, the accounts, the catalog connections (one per thread), the access rules (read again when they change), verdicts of recent seal checks, and a warm converter made on first need."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import logging
import re
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any, Callable, Mapping

import jinja2
from markupsafe import Markup, escape

from pipeline.config import Config
from pipeline.documents.templates import load_templates
from pipeline.documents.trust import TrustRoots
from pipeline.governance.access import AccessPolicy, Actor, policy_for
from pipeline.governance.accounts import Accounts
from pipeline.office import OfficeSession, note_config_change
from pipeline.portal.security import library_log
from pipeline.records.audit import AuditEntry
from pipeline.records.catalog import Catalog
from pipeline.records.retrieve import verify_record, verify_record_bytes
from pipeline.records.verify import VerifyReport
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

log = logging.getLogger("accord.portal")

log = logging.getLogger("accord.portal")


HERE = Path(__file__).resolve().parent


VERIFY_TTL_SECONDS = 600


class VerificationCache:
    """Recent seal verdicts by the content of the file. The checksum is computed afresh on every
    page view (the bytes are read each time); only the signature validation, a function of those
    bytes, is reused for a few minutes. Downloads always verify in full."""

    def __init__(self, capacity: int = 4096, ttl: float = VERIFY_TTL_SECONDS):
        self.capacity, self.ttl = capacity, ttl
        self._items: OrderedDict[tuple, tuple[float, VerifyReport]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, ws: Workspace, record: Mapping[str, Any], roots: TrustRoots) -> VerifyReport:
        try:
            data = (ws.root / record["pdf_path"]).read_bytes()
        except OSError:
            return verify_record(ws, dict(record), roots)  # reports the file as missing
        key = (hashlib.sha256(data).hexdigest(), record["sha256"], record["signature_level"], record.get("due_date"))
        now = time.monotonic()
        with self._lock:
            hit = self._items.get(key)
            if hit and now - hit[0] < self.ttl:
                self._items.move_to_end(key)
                return dataclasses.replace(hit[1], record_id=record["record_id"])
        report = verify_record_bytes(ws, dict(record), data, roots)
        with self._lock:
            self._items[key] = (now, report)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return report


REPORT_TTL_SECONDS = 120


class RecentCache:
    """A few values, each kept for ``ttl`` seconds: the report a person was just shown and its
    charts, by who asked, the period and the cases their right covers, so that the page's images
    are drawn from the report on the page instead of counting (and auditing) it again for each."""

    def __init__(self, capacity: int = 256, ttl: float = REPORT_TTL_SECONDS):
        self.capacity, self.ttl = capacity, ttl
        self._items: OrderedDict[tuple, tuple[float, Any]] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple) -> Any | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is None or time.monotonic() - hit[0] >= self.ttl:
                return None
            self._items.move_to_end(key)
            return hit[1]

    def put(self, key: tuple, value: Any) -> Any:
        with self._lock:
            self._items[key] = (time.monotonic(), value)
            self._items.move_to_end(key)
            while len(self._items) > self.capacity:
                self._items.popitem(last=False)
        return value


class Portal:
    """What one server process shares between requests."""

    def __init__(self, ws: Workspace, config: Config, accounts: Accounts,
                 converter_factory: Callable[[], Any] | None = None):
        self.ws = ws
        self.config = config
        self.settings = config.portal
        self.accounts = accounts
        self.roots = TrustRoots.of(ws, config)
        self.verifications = VerificationCache()
        self.reports = RecentCache()
        self.library_log = library_log()  # pyHanko's tracebacks stay out of the portal's log
        self.templates = sorted(load_templates(ws.templates).values(), key=lambda t: t.name)
        self._converter_factory = converter_factory
        self._converter: Any = None
        self._sealer: Any = None
        self._converter_lock = threading.Lock()
        self._local = threading.local()
        self._catalogs: list[Catalog] = []
        self._policy_lock = threading.Lock()
        self._policy: tuple[tuple, AccessPolicy] | None = None
        self.env = jinja2.Environment(loader=jinja2.FileSystemLoader(HERE / "templates"), autoescape=True,
                                      undefined=jinja2.StrictUndefined, trim_blocks=True, lstrip_blocks=True)
        self.env.filters["marks"] = marks
        self.env.filters["when"] = when
        self.env.globals["office_name"] = config.office.name
        with open_catalog(ws.catalog) as catalog:
            note_config_change(ws, catalog, "accord serve")

    def catalog(self) -> Catalog:
        catalog = getattr(self._local, "catalog", None)
        if catalog is None:
            catalog = self._local.catalog = open_catalog(self.ws.catalog)
            self._catalogs.append(catalog)
        return catalog

    def policy(self) -> AccessPolicy:
        """``access.yaml``, read again whenever it changes (``accord user add`` edits it)."""
        path = self.ws.policies / "access.yaml"
        try:
            st = path.stat()
            key: tuple = (st.st_mtime_ns, st.st_size, st.st_ino)
        except OSError:
            key = ()
        with self._policy_lock:
            if self._policy is None or self._policy[0] != key:
                self._policy = (key, policy_for(self.ws.root, self.ws.policies))
            return self._policy[1]

    def office(self, actor: Actor) -> OfficeSession:
        return OfficeSession(self.ws, actor, config=self.config, policy=self.policy(), catalog=self.catalog())

    def tools(self) -> tuple[Any, Any]:
        """A warm converter and the sealer, made on first need (approving a disposition)."""
        from pipeline.documents.convert import Converter
        from pipeline.documents.seal import make_sealer

        with self._converter_lock:
            if self._converter is None:
                factory = self._converter_factory or (lambda: Converter(self.config.converter))
                self._converter = factory()
                self._sealer = make_sealer(self.ws, self.config)
            return self._converter, self._sealer

    def close(self) -> None:
        if self._converter is not None and self._converter_factory is None:
            self._converter.close()
        for catalog in self._catalogs:
            try:
                catalog.close()
            except Exception:  # a catalog used by another thread is closed with the process
                pass
        self.accounts.close()

    def audit(self, actor: str, action: str, outcome: str, details: dict[str, Any], via: str = "portal") -> None:
        self.catalog().audit(AuditEntry(actor, action, outcome, details={**details, "via": via}))

    def listed(self, name: str) -> bool:
        """Whether ``access.yaml`` names this person (anyone else gets no session through SSO)."""
        return self.policy().user(name) is not None


def marks(text: str | None) -> Markup:
    """A search snippet with its [matches] as <mark>; everything else escaped."""
    escaped = str(escape(text or ""))
    return Markup(re.sub(r"\[([^\[\]]{1,200})\]", r"<mark>\1</mark>", escaped))


def when(value: Any) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, (int, float)):
        return dt.datetime.fromtimestamp(value, dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    text = str(value)
    return text[:16].replace("T", " ") + (" UTC" if "T" in text else "")
