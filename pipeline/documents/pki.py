"""The office's seal key and certificates.

On first use a workspace gets a local office PKI: a root certificate and an office
seal certificate (digitalSignature + nonRepudiation) whose key sits in a PKCS#12
file protected by a generated passphrase, every file readable by the owner only.
A configured institutional PKCS#12 file replaces it, or a key in a PKCS#11 token
(an HSM, a smart card, SoftHSM2): then the key never leaves the token, one
session is opened per process and kept until the process ends.
"""

from __future__ import annotations

import asyncio
import atexit
import datetime as dt
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from asn1crypto import keys as asn1_keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko.sign.signers.pdf_cms import Signer, SimpleSigner
from pyhanko_certvalidator.registry import SimpleCertificateStore
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_SIGNATURE_VALIDATOR,
    SignatureValidationContext,
)

from pipeline.config import Config, OfficeSettings, SealSettings
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
            passphrase = _read_secret(Path(config.seal.passphrase_file).expanduser())
        roots = tuple(Path(r).expanduser() for r in config.seal.extra_trust_roots)
        return SealIdentity(p12, passphrase, roots)
    if not (pki_dir / ROOT_CERT).exists():
        _discard_partial(pki_dir)
        create_local_pki(pki_dir, config.office)
    roots = (pki_dir / ROOT_CERT,) + tuple(Path(r).expanduser() for r in config.seal.extra_trust_roots)
    return SealIdentity(pki_dir / SEAL_P12, _read_secret(pki_dir / SEAL_PASS), roots)


def _discard_partial(pki_dir: Path) -> None:
    """Remove what an interrupted creation left (no root means no usable PKI yet)."""
    for name in (SEAL_PASS, SEAL_P12):
        (pki_dir / name).unlink(missing_ok=True)


def _read_secret(path: Path, what: str = "passphrase file") -> bytes:
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


def office_signer(pki_dir: Path, config: Config) -> Signer:
    """The office's seal signer: from the configured PKCS#11 token, else from the PKCS#12 identity."""
    if config.seal.pkcs11_module:
        return load_pkcs11_signer(config.seal)
    return load_signer(ensure_identity(pki_dir, config), config.seal.digest)


# --- The seal key in a PKCS#11 token ------------------------------------------------------------

class TokenSigner(PKCS11Signer):
    """pyHanko's PKCS#11 signer with every call into the token made under the token's lock.

    The watcher's workers seal from several threads with one signer. python-pkcs11
    serialises the operations on one session itself, but it initialises the module
    without locking arguments (which the PKCS#11 rules read as "one thread at a time"),
    and closing the session at exit must not cut a signature short.
    """

    def __init__(self, session: Any, *, lock: threading.Lock, token_label: str, **kwargs):
        super().__init__(session, **kwargs)
        self._token_lock = lock
        self._token_label = token_label
        self.closed = False

    def load_objects(self) -> None:
        """Find the certificate and the key handle now, so a missing one is an error at start-up."""
        with self._token_lock:
            try:
                self._load_objects()
            except pkcs11.PKCS11Error as exc:
                raise PkiError(
                    f"The token '{self._token_label}' does not hold the seal's key and certificate: "
                    f"{_pkcs11_message(exc)}"
                ) from None

    def sign_now(self, data: bytes, digest_algorithm: str) -> bytes:
        """The raw signature of ``data``, made by the token (blocking)."""
        spec = self._select_pkcs11_signing_params(digest_algorithm, sign_kwargs=self.sign_kwargs(data))
        if spec.pre_sign_transform is not None:
            data = spec.pre_sign_transform(data)
        with self._token_lock:
            if self.closed:
                raise PkiError(f"The session with the token '{self._token_label}' is closed.")
            try:
                signature = self._key_handle.sign(data, **spec.sign_kwargs)
            except pkcs11.PKCS11Error as exc:
                raise PkiError(
                    f"The token '{self._token_label}' did not sign: {_pkcs11_message(exc)}"
                ) from None
        if spec.post_sign_transform is not None:
            signature = spec.post_sign_transform(signature)
        return signature

    async def async_sign_raw(self, data: bytes, digest_algorithm: str, dry_run: bool = False) -> bytes:
        if dry_run:
            return self.estimate_raw_signature_size_bytes() * b"0"
        if not self._loaded:
            self.load_objects()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(None, self.sign_now, data, digest_algorithm.lower())


@dataclass
class _OpenToken:
    """One logged-in session with a token, shared by every signer of this process."""

    label: str
    session: Any
    pin_digest: bytes
    lock: threading.Lock = field(default_factory=threading.Lock)
    signers: dict[tuple, TokenSigner] = field(default_factory=dict)


_open_tokens: dict[tuple[str, str], _OpenToken] = {}
_open_tokens_lock = threading.Lock()
#: Compares a PIN with the one a session was opened with, without keeping the PIN itself.
_PIN_KEY = secrets.token_bytes(32)
_closer_registered = False


def load_pkcs11_signer(settings: SealSettings) -> TokenSigner:
    """The seal signer whose key stays in the configured PKCS#11 token.

    The token's session is opened (and logged in) once per process and shared; it is
    closed when the process exits (or by :func:`close_pkcs11_sessions`). The certificate
    comes from the token, the chain from ``extra_trust_roots``. Every failure is a
    :class:`PkiError` with a sentence that never shows the PIN.
    """
    if not settings.pkcs11_module:
        raise PkiError("No PKCS#11 module is configured (seal.pkcs11_module).")
    module = Path(settings.pkcs11_module).expanduser()
    token_label = settings.pkcs11_token_label or ""
    key_label = settings.pkcs11_key_label or ""
    cert_label = settings.pkcs11_cert_label or key_label
    if not token_label or not key_label:
        raise PkiError("A seal key in a token needs seal.pkcs11_token_label and seal.pkcs11_key_label.")
    if not module.is_file():
        raise PkiError(f"The PKCS#11 module {module} does not exist.")
    pin = _token_pin(settings)
    chain = _chain_certificates(settings.extra_trust_roots)
    pin_digest = hmac.new(_PIN_KEY, pin.encode("utf-8"), hashlib.sha256).digest()
    with _open_tokens_lock:
        token = _open_token(module, token_label, pin, pin_digest)
        cache_key = (key_label, cert_label, settings.digest, tuple(c.dump() for c in chain))
        signer = token.signers.get(cache_key)
        if signer is not None and not signer.closed:
            return signer
        signer = TokenSigner(
            token.session,
            lock=token.lock,
            token_label=token_label,
            key_label=key_label,
            cert_label=cert_label,
            ca_chain=chain,
        )
        signer.load_objects()
        _check_key_matches_certificate(signer, settings.digest, key_label, cert_label, token_label)
        token.signers[cache_key] = signer
        return signer


def close_pkcs11_sessions() -> None:
    """Log out of and close every token session this process opened (run at exit)."""
    with _open_tokens_lock:
        tokens = list(_open_tokens.values())
        _open_tokens.clear()
    for token in tokens:
        with token.lock:
            for signer in token.signers.values():
                signer.closed = True
            try:
                token.session.close()
            except pkcs11.PKCS11Error:
                pass  # the token went away: nothing left to close


def _open_token(module: Path, label: str, pin: str, pin_digest: bytes) -> _OpenToken:
    """The process's session with the token, opened and logged in on first use (holds ``_open_tokens_lock``)."""
    global _closer_registered
    key = (str(module.resolve()), label)
    token = _open_tokens.get(key)
    if token is not None:
        if not hmac.compare_digest(token.pin_digest, pin_digest):
            raise PkiError(
                f"The token '{label}' is already open in this process with another PIN; "
                "the PIN now configured is not the one in use."
            )
        return token
    try:
        lib = pkcs11.lib(str(module))
    except pkcs11.PKCS11Error:
        raise PkiError(f"The PKCS#11 module {module} could not be loaded: it is not a PKCS#11 module "
                       "or a library it needs is missing.") from None
    try:
        found = lib.get_token(token_label=label)
    except pkcs11.NoSuchToken:
        raise PkiError(f"No token labelled '{label}' was found through the PKCS#11 module {module}.") from None
    except pkcs11.MultipleTokensReturned:
        raise PkiError(
            f"More than one token is labelled '{label}': give the seal's token a label of its own."
        ) from None
    except pkcs11.PKCS11Error as exc:
        raise PkiError(
            f"The tokens of the PKCS#11 module {module} could not be listed: {_pkcs11_message(exc)}"
        ) from None
    try:
        session = found.open(user_pin=pin)
    except pkcs11.PinIncorrect:
        raise PkiError(f"The token '{label}' refused the PIN: it is not the token's user PIN.") from None
    except pkcs11.PinLocked:
        raise PkiError(f"The user PIN of token '{label}' is locked after too many wrong tries; "
                       "the token's security officer must unlock it.") from None
    except (pkcs11.PinInvalid, pkcs11.PinLenRange):
        raise PkiError(f"The token '{label}' refused the PIN: it has characters or a length the token "
                       "does not accept.") from None
    except pkcs11.PinExpired:
        raise PkiError(f"The user PIN of token '{label}' has expired: set a new one on the token.") from None
    except pkcs11.UserPinNotInitialized:
        raise PkiError(f"The token '{label}' has no user PIN yet: initialise it first.") from None
    except pkcs11.UserAlreadyLoggedIn:
        raise PkiError(f"Another part of this process is already logged in to the token '{label}'.") from None
    except pkcs11.PKCS11Error as exc:
        raise PkiError(f"The token '{label}' could not be opened: {_pkcs11_message(exc)}") from None
    token = _OpenToken(label, session, pin_digest)
    _open_tokens[key] = token
    if not _closer_registered:
        atexit.register(close_pkcs11_sessions)
        _closer_registered = True
    return token


def _token_pin(settings: SealSettings) -> str:
    """The token's user PIN, from the named environment variable or the owner-only PIN file."""
    if settings.pkcs11_pin_env:
        pin = os.environ.get(settings.pkcs11_pin_env, "")
        if not pin:
            raise PkiError(
                f"The environment variable {settings.pkcs11_pin_env}, which should hold the token's PIN, is not set."
            )
        return pin
    if settings.pkcs11_pin_file:
        path = Path(settings.pkcs11_pin_file).expanduser()
        try:
            pin = _read_secret(path, "PIN file").decode("utf-8")
        except UnicodeDecodeError:
            raise PkiError(f"The PIN file {path} is not UTF-8 text.") from None
        except OSError as exc:
            raise PkiError(f"The PIN file {path} could not be read: {exc.strerror}.") from None
        if not pin:
            raise PkiError(f"The PIN file {path} is empty.")
        return pin
    raise PkiError("No PIN source for the seal token is configured (seal.pkcs11_pin_env or seal.pkcs11_pin_file).")


def _chain_certificates(paths: tuple[str, ...]) -> list[asn1_x509.Certificate]:
    chain: list[asn1_x509.Certificate] = []
    for name in paths:
        path = Path(name).expanduser()
        try:
            chain.extend(load_certificates(path))
        except FileNotFoundError:
            raise PkiError(f"The trust root file {path} does not exist.") from None
        except (ValueError, OSError):
            raise PkiError(f"The trust root file {path} holds no readable certificate.") from None
    return chain


def _check_key_matches_certificate(signer: TokenSigner, digest: str, key_label: str, cert_label: str,
                                   token_label: str) -> None:
    """Sign a probe with the token's key and verify it with the certificate's public key."""
    probe = secrets.token_bytes(32)
    signature = signer.sign_now(probe, digest)
    cert = signer.signing_cert
    try:
        DEFAULT_SIGNATURE_VALIDATOR.validate_signature(
            signature, probe, cert.public_key, signer.get_signature_mechanism_for_digest(digest),
            SignatureValidationContext(contextual_md_algorithm=digest),
        )
    except Exception:  # noqa: BLE001  (any failure means the pair cannot seal)
        raise PkiError(
            f"The key '{key_label}' on token '{token_label}' does not match the certificate '{cert_label}': "
            "seals made with them would not verify."
        ) from None


def _pkcs11_message(exc: Exception) -> str:
    """A PKCS#11 failure as a sentence (python-pkcs11's own texts are often empty)."""
    text = str(exc).strip()
    name = type(exc).__name__
    return text if text and text != name else f"the token answered {name}."
