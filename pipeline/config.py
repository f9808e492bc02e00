"""Workspace configuration: frozen dataclasses loaded from ``accord.yaml``.

Every setting has an embedded default, so a workspace without a configuration
file works. Unknown keys are refused with their location, in the manner of
pyHanko's ``from_config``.
"""

from __future__ import annotations

import dataclasses
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

import yaml

from pipeline.errors import ConfigurationError

CONFIG_NAME = "accord.yaml"


@dataclass(frozen=True)
class OfficeSettings:
    name: str = "Office of Alternative Dispute Resolution"
    """The office's name: shown in documents and in the seal certificate's organisation."""

    country: str = "US"
    """Two-letter country code for the local office certificate."""


@dataclass(frozen=True)
class IntakeSettings:
    max_bytes: int = 2 * 1024 * 1024
    """Largest case file accepted, in bytes (default 2 MB)."""

    def assert_viable(self) -> None:
        if self.max_bytes <= 0:
            raise ConfigurationError("intake.max_bytes must be a positive number of bytes.")


@dataclass(frozen=True)
class ConverterSettings:
    """How to start and supervise one warm LibreOffice instance."""

    soffice: str = "soffice"
    """The LibreOffice program."""

    uno_python: str = "/usr/bin/python3"
    """The Python that can ``import uno`` (Debian's), which runs the bridge to LibreOffice."""

    timeout: float = 60.0
    """Seconds per conversion attempt before LibreOffice is killed and started again."""

    start_timeout: float = 60.0
    """Seconds for LibreOffice to accept the UNO connection."""

    recycle_after: int = 200
    """Restart LibreOffice after this many documents."""

    max_retries: int = 2
    """Extra attempts after a timeout or a dead instance."""

    retry_backoff: float = 0.25
    """Seconds before the first retry, doubled for every further one."""

    work_dir: Path | None = field(default=None, compare=False)
    """Parent of each converter's private folder (created owner-only; folders left there by processes that
    are gone are removed when a converter starts). A workspace's configuration sets its ``.accord/convert/``;
    ``None``, outside a workspace, is the system temp folder. Where the folders go is the workspace's doing,
    not a setting, so it takes no part in comparing configurations."""

    log_file: Path | None = None
    """LibreOffice's and the bridge's standard error go here (appended); ``None``: discarded."""

    def __post_init__(self) -> None:
        self.assert_viable()

    def assert_viable(self) -> None:
        if self.timeout <= 0 or self.start_timeout <= 0:
            raise ConfigurationError("converter timeouts must be positive")
        if self.recycle_after < 1:
            raise ConfigurationError("converter recycle_after must be at least 1")
        if self.max_retries < 0 or self.retry_backoff < 0:
            raise ConfigurationError("converter max_retries and retry_backoff must not be negative")


@dataclass(frozen=True)
class WatchSettings:
    stable_seconds: float = 1.0
    """A file is taken once its size and modification time have not changed for this long."""

    poll_seconds: float = 0.0
    """Look for files by polling every so many seconds (network shares); 0 means native file events."""

    rescan_seconds: float = 30.0
    """A full look at the inbox this often, as a safety net for missed events."""

    workers: int = 0
    """Documents converted at once, each with its own LibreOffice; 0 means one per processor core."""

    retry_after_fault_seconds: float = 10.0
    """After a system fault (full disk, unwritable archive), try again after this long (doubling to 5 minutes)."""

    status_seconds: float = 2.0
    """How often the watcher writes its status for ``accord status``."""

    wait_minutes: float = 10.0
    """How long a file waits in staging for something it needs (the first record of the case an
    event file names) before it fails with the reason."""

    def assert_viable(self) -> None:
        if self.stable_seconds < 0 or self.poll_seconds < 0 or self.rescan_seconds <= 0:
            raise ConfigurationError("watch.stable_seconds and watch.poll_seconds must not be negative, "
                                     "and watch.rescan_seconds must be positive.")
        if self.wait_minutes < 0:
            raise ConfigurationError("watch.wait_minutes must not be negative.")
        if self.workers < 0 or self.workers > 64:
            raise ConfigurationError("watch.workers must be between 0 (one per core) and 64.")


@dataclass(frozen=True)
class SealSettings:
    certificate: str | None = None
    """A PKCS#12 file with the institution's seal certificate; the local office PKI is used when empty."""

    passphrase_file: str | None = None
    """File holding the PKCS#12 passphrase (owner-readable only)."""

    extra_trust_roots: tuple[str, ...] = ()
    """PEM files of further roots to trust when verifying (for an institutional certificate)."""

    party_trust_roots: tuple[str, ...] = ()
    """PEM files of the roots that vouch for the parties' own signing certificates; a party-signed copy
    whose signer chains to none of them is still taken in, its signature recorded as untrusted."""

    timestamp_url: str | None = None
    """An RFC 3161 time-stamp service; with it seals are made at PAdES B-T (B-LTA with ``revocation``)."""

    timestamp_username: str | None = None
    """User for the time-stamp service, if it needs one."""

    timestamp_password_env: str | None = None
    """Name of the environment variable that holds the time-stamp service's password."""

    digest: str = "sha256"
    """Message digest of the seal."""

    revocation: bool = False
    """Make long-term seals: with a time-stamp service, embed the certificates and revocation data
    (OCSP, CRLs, fetched online when sealing) for PAdES B-LT and add a document time-stamp (B-LTA).
    A seal certificate that is revoked, or whose status cannot be learnt, is refused at sealing."""

    preserve_window_days: int = 180
    """``accord preserve`` renews a record when its newest time-stamp, or a certificate its seal
    rests on, expires within this many days."""

    weak_digests: tuple[str, ...] = ("sha1", "md5")
    """Message digests no longer trusted: records sealed or time-stamped with one are renewed."""

    pkcs11_module: str | None = None
    """Path of the PKCS#11 module (.so) of a token holding the seal key (which never leaves it); empty: not used."""

    pkcs11_token_label: str | None = None
    """Label of the token that holds the seal key."""

    pkcs11_key_label: str | None = None
    """Label of the seal's private key on the token."""

    pkcs11_cert_label: str | None = None
    """Label of the seal certificate on the token; the key's label when empty."""

    pkcs11_pin_env: str | None = None
    """Name of the environment variable that holds the token's user PIN."""

    pkcs11_pin_file: str | None = None
    """File holding the token's user PIN (owner-readable only); instead of ``pkcs11_pin_env``."""

    def assert_viable(self) -> None:
        if self.passphrase_file and not self.certificate:
            raise ConfigurationError(
                "seal.passphrase_file is set but seal.certificate is not: name the PKCS#12 file too."
            )
        if self.digest not in ("sha256", "sha384", "sha512"):
            raise ConfigurationError("seal.digest must be one of sha256, sha384, sha512.")
        if self.revocation and not self.timestamp_url:
            raise ConfigurationError(
                "seal.revocation is set but seal.timestamp_url is not: long-term seals (PAdES B-LT/B-LTA) "
                "need a time-stamp service."
            )
        if self.preserve_window_days < 1:
            raise ConfigurationError("seal.preserve_window_days must be at least 1 day.")
        if self.digest in {d.lower() for d in self.weak_digests}:
            raise ConfigurationError(f"seal.digest {self.digest} is listed in seal.weak_digests.")
        self._assert_token_viable()

    def _assert_token_viable(self) -> None:
        """The seal.pkcs11_* settings: all or nothing, one PIN source, not beside a PKCS#12 file."""
        seal = self
        token_keys = ("pkcs11_token_label", "pkcs11_key_label", "pkcs11_cert_label",
                      "pkcs11_pin_env", "pkcs11_pin_file")
        if not seal.pkcs11_module:
            given = [key for key in token_keys if getattr(seal, key)]
            if given:
                raise ConfigurationError(
                    f"seal.{given[0]} is set but seal.pkcs11_module is not: name the token's PKCS#11 module too."
                )
            return
        if seal.certificate:
            raise ConfigurationError(
                "seal.certificate and seal.pkcs11_module are both set: the seal key is either in a PKCS#12 file "
                "or in a token, so keep one of them."
            )
        if not seal.pkcs11_token_label:
            raise ConfigurationError("seal.pkcs11_module is set but seal.pkcs11_token_label is not: name the token.")
        if not seal.pkcs11_key_label:
            raise ConfigurationError(
                "seal.pkcs11_module is set but seal.pkcs11_key_label is not: name the seal key on the token."
            )
        if bool(seal.pkcs11_pin_env) == bool(seal.pkcs11_pin_file):
            raise ConfigurationError(
                "A seal key in a token needs exactly one PIN source: set either seal.pkcs11_pin_env "
                "or seal.pkcs11_pin_file, not both and not neither."
            )
        if not seal.extra_trust_roots:
            raise ConfigurationError(
                "seal.pkcs11_module is set but seal.extra_trust_roots is empty: name the root certificate "
                "the token's seal certificate chains to, or no seal could be verified."
            )


@dataclass(frozen=True)
class PortalSettings:
    host: str = "127.0.0.1"
    """Address ``accord serve`` listens on: loopback, behind a reverse proxy that terminates TLS."""

    port: int = 8080

    idle_minutes: int = 30
    """A signed-in session ends after this long without a request."""

    absolute_hours: int = 12
    """A session ends this long after sign-in, however busy."""

    max_failures_per_account: int = 5
    """Failed sign-ins for one account within ``lockout_minutes`` before it is locked for that long."""

    max_failures_per_address: int = 20
    """Failed sign-ins from one network address within ``lockout_minutes`` before it is refused for that long."""

    lockout_minutes: int = 15

    secure_cookies: bool = False
    """Mark cookies Secure even on plain HTTP (they are always Secure when the request came over HTTPS)."""

    trusted_proxies: tuple[str, ...] = ()
    """Addresses of the reverse proxies whose ``X-Forwarded-*`` headers (and SSO user header) are believed."""

    sso_header: str | None = None
    """Header carrying the signed-in user from the institution's proxy (Shibboleth, mod_auth_openidc), e.g.
    ``X-Remote-User``; accepted only from ``trusted_proxies``, the user mapped to roles by ``access.yaml``."""

    def assert_viable(self) -> None:
        portal = self
        if not 0 < portal.port < 65536:
            raise ConfigurationError("portal.port must be between 1 and 65535.")
        if portal.idle_minutes < 1 or portal.absolute_hours < 1 or portal.lockout_minutes < 1:
            raise ConfigurationError("portal.idle_minutes, portal.absolute_hours and portal.lockout_minutes "
                                     "must be at least 1.")
        if portal.max_failures_per_account < 1 or portal.max_failures_per_address < 1:
            raise ConfigurationError("portal.max_failures_per_account and portal.max_failures_per_address "
                                     "must be at least 1.")
        if portal.sso_header and not portal.trusted_proxies:
            raise ConfigurationError("portal.sso_header is set but portal.trusted_proxies is empty: name the "
                                     "reverse proxy's address, or anyone could claim to be anyone.")
        if portal.sso_header and not re.fullmatch(r"[A-Za-z0-9-]{1,64}", portal.sso_header):
            raise ConfigurationError("portal.sso_header must be a header name (letters, digits and '-').")


@dataclass(frozen=True)
class AgendaSettings:
    days: int = 14
    """``accord agenda`` shows what falls due within this many days (and everything overdue)."""

    idle_days: int = 30
    """An open case that stays this many days in one phase is on the agenda."""

    def assert_viable(self) -> None:
        if not 0 <= self.days <= 366:
            raise ConfigurationError("agenda.days must be between 0 and 366.")
        if not 1 <= self.idle_days <= 3650:
            raise ConfigurationError("agenda.idle_days must be between 1 and 3650.")


@dataclass(frozen=True)
class ReportSettings:
    min_cell: int = 10
    """A count under this is shown as suppressed in the Director's report (with enough other cells
    that it cannot be worked out from the totals); a median over fewer cases is suppressed too."""

    year_starts: int = 7
    """The month the academic year starts (July): ``accord report`` covers the year containing today."""

    def assert_viable(self) -> None:
        if not 2 <= self.min_cell <= 100:
            raise ConfigurationError("report.min_cell must be between 2 and 100.")
        if not 1 <= self.year_starts <= 12:
            raise ConfigurationError("report.year_starts must be a month, 1 to 12.")


@dataclass(frozen=True)
class Config:
    office: OfficeSettings = field(default_factory=OfficeSettings)
    intake: IntakeSettings = field(default_factory=IntakeSettings)
    converter: ConverterSettings = field(default_factory=ConverterSettings)
    watch: WatchSettings = field(default_factory=WatchSettings)
    seal: SealSettings = field(default_factory=SealSettings)
    portal: PortalSettings = field(default_factory=PortalSettings)
    agenda: AgendaSettings = field(default_factory=AgendaSettings)
    report: ReportSettings = field(default_factory=ReportSettings)

    def assert_viable(self) -> None:
        """Each section's own checks (each failing with a full sentence)."""
        for section in (self.intake, self.converter, self.watch, self.seal, self.portal, self.agenda,
                        self.report):
            section.assert_viable()


def _build(cls: type, data: Any, where: str) -> Any:
    """Build dataclass ``cls`` from a mapping, refusing unknown keys and wrong types."""
    if data is None:
        return cls()
    if not isinstance(data, Mapping):
        raise ConfigurationError(f"{where or 'the configuration'} must be a mapping of settings.")
    known = {f.name: f for f in dataclasses.fields(cls)}
    values: dict[str, Any] = {}
    for key, value in data.items():
        path = f"{where}.{key}" if where else str(key)
        if key not in known:
            raise ConfigurationError(f"Unexpected key in configuration: {path}.")
        spec = known[key]
        default = spec.default_factory() if spec.default_factory is not dataclasses.MISSING else spec.default
        if dataclasses.is_dataclass(default):
            values[key] = _build(type(default), value, path)
        else:
            values[key] = _coerce(default, value, path)
    try:
        return cls(**values)
    except ConfigurationError as exc:
        raise ConfigurationError(f"In {where or 'the configuration'}: {exc}.") from None


def _coerce(default: Any, value: Any, path: str) -> Any:
    if isinstance(default, tuple):
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ConfigurationError(f"{path} must be a list of text values.")
        return tuple(value)
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise ConfigurationError(f"{path} must be true or false.")
        return value
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigurationError(f"{path} must be a number.")
        return type(default)(value)
    if value is not None and not isinstance(value, str):
        raise ConfigurationError(f"{path} must be text.")
    return value


def load_config(path: Path) -> Config:
    """Read ``accord.yaml``; a missing file means every default."""
    if not path.exists():
        config = Config()
    else:
        try:
            data = yaml.safe_load(path.read_text(encoding="utf-8"))
        except (yaml.YAMLError, UnicodeDecodeError) as exc:
            raise ConfigurationError(f"{path.name} is not valid YAML: {exc}") from None
        config = _build(Config, data or {}, "")
    config.assert_viable()
    return config


def default_config_text() -> str:
    """The commented configuration that ``accord init`` writes."""
    return f"""\
# Accord workspace configuration. Every setting shown is the default.
office:
  name: {Config().office.name}
  country: US
intake:
  max_bytes: 2097152          # largest case file accepted (2 MB)
converter:
  soffice: soffice
  uno_python: /usr/bin/python3
  timeout: 60                 # seconds per conversion before LibreOffice is restarted
  recycle_after: 200          # restart LibreOffice after this many documents
  max_retries: 2
watch:
  stable_seconds: 1.0         # a file is taken once unchanged this long
  poll_seconds: 0             # > 0: poll every so many seconds (network shares) instead of file events
  rescan_seconds: 30          # full look at the inbox, as a safety net
  workers: 0                  # LibreOffice instances; 0 = one per core
  retry_after_fault_seconds: 10
  status_seconds: 2
  wait_minutes: 10            # a file waiting for its case's first record fails after this long
seal:
  certificate: null           # institutional PKCS#12 file; null = the local office PKI in pki/
  passphrase_file: null
  extra_trust_roots: []
  party_trust_roots: []       # roots of the parties' signing certificates; others are recorded as untrusted
  timestamp_url: null         # RFC 3161 service; with it seals are PAdES B-T
  digest: sha256
  revocation: false           # with timestamp_url: embed OCSP/CRLs (B-LT) and a document time-stamp (B-LTA)
  preserve_window_days: 180   # accord preserve renews what expires within this many days
  weak_digests: [sha1, md5]   # records sealed or time-stamped with these are renewed
  # The seal key in a PKCS#11 token (HSM, smart card) instead of a PKCS#12 file; with it,
  # certificate stays null and extra_trust_roots names the root the token's certificate chains to.
  # pkcs11_module: /usr/lib/softhsm/libsofthsm2.so
  # pkcs11_token_label: office-seal
  # pkcs11_key_label: seal
  # pkcs11_cert_label: seal     # default: the key's label
  # pkcs11_pin_env: ACCORD_TOKEN_PIN   # or pkcs11_pin_file: a file readable by its owner only
portal:                       # accord serve: the web portal
  host: 127.0.0.1             # loopback; put a TLS reverse proxy in front (see README)
  port: 8080
  idle_minutes: 30            # a session ends after this long without a request
  absolute_hours: 12          # and this long after sign-in
  max_failures_per_account: 5 # failed sign-ins within lockout_minutes before the account is locked
  max_failures_per_address: 20
  lockout_minutes: 15
  secure_cookies: false       # cookies are Secure anyway when the request came over HTTPS
  trusted_proxies: []         # reverse proxy addresses whose X-Forwarded-* and SSO header are believed
  sso_header: null            # e.g. X-Remote-User, set by Shibboleth or mod_auth_openidc on the proxy
agenda:                       # accord agenda, the portal's home page and calendar feeds
  days: 14                    # what falls due within this many days (and everything overdue)
  idle_days: 30               # an open case this long in one phase is on the agenda
report:                       # accord report, the Director's de-identified report
  min_cell: 10                # counts under this are suppressed (with complementary suppression)
  year_starts: 7              # the month the academic year starts: the default period
"""


def env_workspace() -> str | None:
    """The workspace named by ``ACCORD_HOME``, if any."""
    return os.environ.get("ACCORD_HOME") or None
