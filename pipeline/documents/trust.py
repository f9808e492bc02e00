"""The certificates seals and signatures must chain to: read once from the settings, used everywhere.

Two sets, as pyHanko's ``config/trust.py`` turns settings into validation contexts in one place:

- **the office's roots**: the root of the workspace's local PKI (when it has one) and the files of
  ``seal.extra_trust_roots``. A seal, an audit anchor or a document time-stamp must chain to one.
- **the parties' roots**: the files of ``seal.party_trust_roots``. A party's signature on a signed
  copy that chains to one is recorded as trusted; one that does not is recorded as untrusted.

A root file that cannot be read is a :class:`~pipeline.errors.PkiError` (a fault of the system,
never of a file being checked).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from asn1crypto import x509 as asn1_x509
from pyhanko_certvalidator import ValidationContext

from pipeline.config import Config
from pipeline.documents.pki import ROOT_CERT, load_certificates
from pipeline.errors import PkiError
from pipeline.workspace import Workspace


@dataclass(frozen=True)
class TrustRoots:
    office: tuple[asn1_x509.Certificate, ...]
    """The roots a seal must chain to."""

    parties: tuple[asn1_x509.Certificate, ...] = ()
    """The roots that vouch for the parties' own signing certificates."""

    @classmethod
    def of(cls, ws: Workspace, config: Config) -> "TrustRoots":
        """The workspace's roots: its local office root (if any) and the configured ones."""
        local = ws.pki / ROOT_CERT
        office = ([local] if local.exists() else []) + [Path(p).expanduser() for p in config.seal.extra_trust_roots]
        return cls(_read(office, "seal.extra_trust_roots"),
                   _read([Path(p).expanduser() for p in config.seal.party_trust_roots], "seal.party_trust_roots"))

    def context(self) -> ValidationContext:
        """An offline validation context on the office's roots: nothing is fetched, revocation is
        soft-fail (what the file embeds is used)."""
        return ValidationContext(trust_roots=list(self.office), allow_fetching=False)

    def party_context(self) -> ValidationContext:
        """An offline validation context on the parties' roots (is this party's signer vouched for?)."""
        return ValidationContext(trust_roots=list(self.parties), allow_fetching=False)

    def including_parties(self) -> "TrustRoots":
        """These roots with the parties' among the office's: what a party-signed copy is checked against."""
        return TrustRoots(self.office + self.parties, self.parties)

    def online_context(self, *, revocation_mode: str = "require") -> ValidationContext:
        """A context that fetches revocation data (sealing at B-LT, renewing seals): a seal certificate
        whose status cannot be learnt is refused unless ``revocation_mode`` says otherwise."""
        return ValidationContext(trust_roots=list(self.office), allow_fetching=True, revocation_mode=revocation_mode)


def _read(paths: list[Path], setting: str) -> tuple[asn1_x509.Certificate, ...]:
    certificates = []
    for path in paths:
        try:
            certificates.extend(load_certificates(path))
        except (OSError, ValueError) as exc:
            raise PkiError(f"The trust root {path} ({setting}) cannot be read: {exc}.") from None
    return tuple(certificates)
