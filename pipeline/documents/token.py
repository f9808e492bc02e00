"""The seal key in a PKCS#11 token (an HSM, a smart card, or SoftHSM2 in the tests): it never leaves it.

The token's session is opened once per process (keyed by module and token label, the PIN kept only
as an HMAC under a per-process key), shared by every signer, locked around each signature, and
closed when the process exits. The certificate chain comes from ``seal.extra_trust_roots``; the key
is checked against the certificate before it is used. Every failure is a sentence naming the
setting to look at (:class:`~pipeline.errors.PkiError`).
"""

from __future__ import annotations

import asyncio
import atexit
import hashlib
import hmac
import os
import secrets
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pkcs11
from asn1crypto import x509 as asn1_x509
from pyhanko.sign.pkcs11 import PKCS11Signer
from pyhanko_certvalidator.sig_validate import (
    DEFAULT_SIGNATURE_VALIDATOR,
    SignatureValidationContext,
)

from pipeline.config import SealSettings
from pipeline.documents.pki import load_certificates, read_secret
from pipeline.errors import PkiError


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


#: Compares a PIN with the one a session was opened with, without keeping the PIN itself.
_open_tokens: dict[tuple[str, str], _OpenToken] = {}
_open_tokens_lock = threading.Lock()
_closer_registered = False

_PIN_KEY = secrets.token_bytes(32)


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
            pin = read_secret(path, "PIN file").decode("utf-8")
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
