"""The office's seal key and certificates.

On first use a workspace gets a local office PKI: a root certificate and an office
seal certificate (digitalSignature + nonRepudiation) whose key sits in a PKCS#12
file protected by a generated passphrase, every file readable by the owner only.
A configured institutional PKCS#12 file replaces it, or a key in a PKCS#11 token
(an HSM, a smart card, SoftHSM2): then the key never leaves the token, one
session is opened per process and kept until the process ends.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
from dataclasses import dataclass
from pathlib import Path

from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.signers.pdf_cms import SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore

from pipeline.config import Config, OfficeSettings
from pipeline.errors import PkiError

ROOT_CERT = "root.pem"
SEAL_P12 = "seal.p12"
SEAL_PASS = "seal.pass"
#: id-kp-documentSigning (RFC 9336)
DOCUMENT_SIGNING = x509.ObjectIdentifier("1.3.6.1.5.5.7.3.36")


@dataclass(frozen=True)
class SealIdentity:
    """Where the seal key and the certificates to trust are."""

    pkcs12: Path
    passphrase: bytes
    trust_roots: tuple[Path, ...]


class LoadedKeySigner(SimpleSigner):
    """A pyHanko signer that keeps its private key parsed.

    pyHanko's ``SimpleSigner`` re-parses the key from DER on every signature
    (about 0.3 s with RSA-3072); this one parses it once per process.
    """

    def __init__(self, *args, pyca_key, **kwargs):
        super().__init__(*args, **kwargs)
        self._pyca_key = pyca_key

    def sign_raw(self, data: bytes, digest_algorithm: str) -> bytes:
        mechanism = self.get_signature_mechanism_for_digest(digest_algorithm)
        algo = mechanism["algorithm"].native
        hash_algo = getattr(hashes, digest_algorithm.upper().replace("-", "_"))()
        if isinstance(self._pyca_key, rsa.RSAPrivateKey) and algo in (
            "rsassa_pkcs1v15",
            f"{digest_algorithm}_rsa",
        ):
            return self._pyca_key.sign(data, padding.PKCS1v15(), hash_algo)
        if isinstance(self._pyca_key, ec.EllipticCurvePrivateKey) and "ecdsa" in algo:
            return self._pyca_key.sign(data, ec.ECDSA(hash_algo))
        return super().sign_raw(data, digest_algorithm)


def _write_private(path: Path, data: bytes) -> None:
    """Write a file readable and writable by the owner only (created so, never widened)."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _name(office: OfficeSettings, common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, office.country),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, office.name),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def root_certificate(name: x509.Name, *, now: dt.datetime, days: int) -> tuple[rsa.RSAPrivateKey, x509.Certificate]:
    """A new self-signed root (RSA-3072) that may issue end-entity certificates only."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False, content_commitment=False, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=True,
                crl_sign=True, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, cert


def seal_certificate(name: x509.Name, public_key, root_key: rsa.RSAPrivateKey, root_cert: x509.Certificate, *,
                     now: dt.datetime, days: int) -> x509.Certificate:
    """The office seal certificate for ``public_key``: non-repudiation, document signing, issued by the root."""
    return (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(root_cert.subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=days))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True, content_commitment=True, key_encipherment=False,
                data_encipherment=False, key_agreement=False, key_cert_sign=False,
                crl_sign=False, encipher_only=False, decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([DOCUMENT_SIGNING, ExtendedKeyUsageOID.EMAIL_PROTECTION]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), critical=False)
        .sign(root_key, hashes.SHA256())
    )


def create_local_pki(pki_dir: Path, office: OfficeSettings, *, now: dt.datetime | None = None) -> None:
    """Create the local root and office seal certificate in ``pki_dir`` (mode 0700)."""
    now = now or dt.datetime.now(dt.timezone.utc)
    pki_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(pki_dir, 0o700)

    root_key, root_cert = root_certificate(_name(office, f"{office.name} Root"), now=now, days=365 * 20)
    seal_key = rsa.generate_private_key(public_exponent=65537, key_size=3072)
    seal_cert = seal_certificate(_name(office, f"{office.name} Seal"), seal_key.public_key(), root_key, root_cert,
                                 now=now, days=365 * 3)

    passphrase = secrets.token_urlsafe(32).encode()
    p12 = pkcs12.serialize_key_and_certificates(
        name=b"office-seal",
        key=seal_key,
        cert=seal_cert,
        cas=[root_cert],
        encryption_algorithm=serialization.BestAvailableEncryption(passphrase),
    )
    # The passphrase and key first, the root last: its presence marks a complete PKI.
    _write_private(pki_dir / SEAL_PASS, passphrase + b"\n")
    _write_private(pki_dir / SEAL_P12, p12)
    _write_private(pki_dir / ROOT_CERT, root_cert.public_bytes(serialization.Encoding.PEM))


def ensure_identity(pki_dir: Path, config: Config) -> SealIdentity:
    """The seal identity to use: the configured certificate, else the local PKI (made if missing)."""
    if config.seal.certificate:
        p12 = Path(config.seal.certificate).expanduser()
        passphrase = b""
        if config.seal.passphrase_file:
            passphrase = read_secret(Path(config.seal.passphrase_file).expanduser())
        roots = tuple(Path(r).expanduser() for r in config.seal.extra_trust_roots)
        return SealIdentity(p12, passphrase, roots)
    if not (pki_dir / ROOT_CERT).exists():
        _discard_partial(pki_dir)
        create_local_pki(pki_dir, config.office)
    roots = (pki_dir / ROOT_CERT,) + tuple(Path(r).expanduser() for r in config.seal.extra_trust_roots)
    return SealIdentity(pki_dir / SEAL_P12, read_secret(pki_dir / SEAL_PASS), roots)


def _discard_partial(pki_dir: Path) -> None:
    """Remove what an interrupted creation left (no root means no usable PKI yet)."""
    for name in (SEAL_PASS, SEAL_P12):
        (pki_dir / name).unlink(missing_ok=True)


def read_secret(path: Path, what: str = "passphrase file") -> bytes:
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise PkiError(f"The {what} {path} does not exist.") from None
    if mode & 0o077:
        raise PkiError(f"The {what} {path} must be readable by its owner only (chmod 600).")
    return path.read_bytes().strip()


def load_signer(identity: SealIdentity, digest: str = "sha256") -> LoadedKeySigner:
    """Load the seal key and chain once; the signer is reused for every document."""
    try:
        key, cert, others = pkcs12.load_key_and_certificates(
            identity.pkcs12.read_bytes(), identity.passphrase or None
        )
    except FileNotFoundError:
        raise PkiError(f"The seal certificate file {identity.pkcs12} does not exist.") from None
    except ValueError:
        raise PkiError("The seal certificate could not be opened: wrong passphrase or damaged file.") from None
    if key is None or cert is None:
        raise PkiError("The seal certificate file holds no key or no certificate.")
    store = SimpleCertificateStore()
    chain = [_to_asn1(c) for c in others]
    for root in identity.trust_roots:
        chain.extend(load_certificates(root))
    store.register_multiple(chain)
    kinfo = asn1_keys.PrivateKeyInfo.load(
        key.private_bytes(serialization.Encoding.DER, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return LoadedKeySigner(
        signing_cert=_to_asn1(cert),
        signing_key=kinfo,
        cert_registry=store,
        pyca_key=key,
    )


def _to_asn1(cert: x509.Certificate) -> asn1_x509.Certificate:
    return asn1_x509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))


def load_certificates(path: Path) -> list[asn1_x509.Certificate]:
    """Every certificate in a PEM or DER file."""
    data = path.read_bytes()
    if b"-----BEGIN" in data:
        return [_to_asn1(c) for c in x509.load_pem_x509_certificates(data)]
    return [asn1_x509.Certificate.load(data)]
