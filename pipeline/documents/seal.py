"""Sealing: the office's certification signature over the archival PDF.

Empty signature fields are added where the template's bookmarks put them (one per
signatory), then the office certifies the document with DocMDP "form filling and
signing" so the parties can sign later without breaking the seal. PAdES, SHA-256,
the chain embedded, a visible stamp drawn with an embedded font (PDF/A needs it).

Levels (ETSI EN 319 142): B-B without a time-stamp service; B-T with one; with
``seal.revocation`` as well, the seal certificate is validated online when sealing
(a revoked one is refused), its chain and revocation data go into the document
security store (B-LT) and a document time-stamp covers everything (B-LTA).
"""

from __future__ import annotations

import atexit
import io
import os
import subprocess
import tempfile
import zlib
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils import layout as pdf_layout
from pyhanko.pdf_utils.font.opentype import GlyphAccumulator, GlyphAccumulatorFactory
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.text import TextBoxStyle
from pyhanko.sign import fields, signers, timestamps
from pyhanko.sign.general import SigningError
from pyhanko.stamp import TextStampStyle
from pyhanko_certvalidator import errors as cv_errors
from pypdf import PdfReader

from pipeline.config import Config
from pipeline.documents.pki import ensure_identity, load_signer
from pipeline.documents.templates import SEAL_BOOKMARK
from pipeline.documents.token import load_pkcs11_signer
from pipeline.documents.trust import TrustRoots
from pipeline.errors import PkiError, SealError, TimestampUnavailable
from pipeline.workspace import Workspace

SEAL_FIELD = "seal"
SIGNATURE_BOX = (200.0, 40.0)
SEAL_BOX = (220.0, 56.0)
#: Room left beside the measured size of the office's signature (its length varies by a few bytes).
_RESERVE_MARGIN = 512
#: pyHanko lays text out correctly only with fonts of 1000 units per em (Noto Sans is one).
_FONT_CANDIDATES = ("/usr/share/fonts/truetype/noto/NotoSans-Regular.ttf",)


@dataclass(frozen=True)
class FieldPlace:
    name: str
    page: int
    box: tuple[float, float, float, float]


@dataclass(frozen=True)
class SealedPdf:
    pdf: bytes
    level: str
    signer: str
    signature_fields: tuple[str, ...]
    pages: int


#: Characters the seal stamp may draw: Latin, Latin-1 and Latin Extended-A (names of offices, dates, ids).
_STAMP_CHARACTERS = list(range(0x20, 0x7F)) + list(range(0xA0, 0x180)) + [0x2013, 0x2014, 0x2019, 0x201C, 0x201D]


@lru_cache(maxsize=1)
def stamp_font() -> str:
    """A small subset of Noto Sans for the visible seal, made once per process.

    pyHanko subsets the font it embeds on every signature; done on the whole
    Noto Sans that costs about 0.4 s per document, on this subset about 10 ms.
    """
    from fontTools import subset

    source = _full_stamp_font()
    options = subset.Options()
    options.name_IDs = ["*"]
    options.notdef_outline = True
    font = subset.load_font(source, options)
    subsetter = subset.Subsetter(options)
    subsetter.populate(unicodes=_STAMP_CHARACTERS)
    subsetter.subset(font)
    fd, path = tempfile.mkstemp(prefix="accord-stamp-", suffix=".ttf")
    os.close(fd)
    subset.save_font(font, path, options)
    atexit.register(_remove_quietly, path)
    return path


def _remove_quietly(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass


def _full_stamp_font() -> str:
    """The Noto Sans font file (embedded in the seal, as PDF/A requires)."""
    for candidate in _FONT_CANDIDATES:
        if Path(candidate).is_file():
            return candidate
    try:
        found = subprocess.run(
            ["fc-match", "-f", "%{file}", "Noto Sans:style=Regular"], capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        found = ""
    if found and Path(found).name.startswith("NotoSans") and Path(found).suffix.lower() in (".ttf", ".otf"):
        return found
    raise SealError("The Noto Sans font, used to draw the visible seal, is missing; install fonts-noto-core.")


def field_places(pdf: bytes) -> tuple[list[FieldPlace], int]:
    """Signature and seal places from the PDF's named destinations (the template's bookmarks)."""
    reader = PdfReader(io.BytesIO(pdf))
    places = []
    for raw_name, dest in reader.named_destinations.items():
        name = raw_name.lstrip("/")
        if name != SEAL_BOOKMARK and not name.startswith("sig"):
            continue
        page = reader.get_destination_page_number(dest)
        left, top = float(dest.left or 0), float(dest.top or 0)
        width, height = SEAL_BOX if name == SEAL_BOOKMARK else SIGNATURE_BOX
        places.append(FieldPlace(name, page, (left, top - height, left + width, top)))
    places.sort(key=lambda p: (p.page, -p.box[3], p.box[0]))
    return places, len(reader.pages)


class _PresubsetAccumulator(GlyphAccumulator):
    """Embeds the stamp font file as it is: it is already a small subset, made once per
    process (:func:`stamp_font`); subsetting or re-compiling it for every seal cost
    more than the rest of the seal together."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        font_file = kwargs["font_handle"].name
        descriptor = self.cidfont_obj._font_descriptor

        def set_font_file(writer):
            stream = generic.StreamObject(
                {generic.NameObject("/Filter"): generic.NameObject("/FlateDecode")},
                encoded_data=_compressed_font(font_file),
            )
            ref = writer.add_object(stream)
            descriptor[generic.NameObject("/FontFile2")] = ref
            return ref

        self.cidfont_obj.set_font_file = set_font_file

    def _extract_subset(self, options=None) -> None:
        return None


@lru_cache(maxsize=4)
def _compressed_font(path: str) -> bytes:
    return zlib.compress(Path(path).read_bytes(), 6)


class _PresubsetFactory(GlyphAccumulatorFactory):
    def create_font_engine(self, writer, obj_stream=None) -> GlyphAccumulator:
        fh = open(self.font_file, "rb")  # noqa: SIM115  (pyHanko reads it while writing)
        if obj_stream is None and writer.stream_xrefs and self.create_objstream_if_needed:
            obj_stream = writer.prepare_object_stream()
        return _PresubsetAccumulator(writer=writer, font_handle=fh, font_size=self.font_size, obj_stream=obj_stream)


class Sealer:
    """Applies the office seal; holds the loaded key and the stamp style for the whole process."""

    def __init__(self, signer: signers.Signer, *, office_name: str, digest: str = "sha256",
                 timestamper: timestamps.TimeStamper | None = None, long_term: bool = False,
                 trust: TrustRoots | None = None):
        """``long_term`` (needs ``timestamper`` and ``trust``): seal at PAdES B-LT and finish at
        B-LTA, validating the seal certificate online first."""
        if long_term and (timestamper is None or trust is None or not trust.office):
            raise SealError("Long-term seals need a time-stamp service and the roots to trust.")
        self._signer = signer
        self._office = office_name
        self._digest = digest
        self._timestamper = timestamper
        self._long_term = long_term
        self._trust = trust
        self._font = _PresubsetFactory(stamp_font(), font_size=8)
        self._reserved: int | None = None

    @property
    def signer_name(self) -> str:
        subject = self._signer.signing_cert.subject
        return subject.native.get("common_name") or subject.human_friendly

    def seal(self, pdf: bytes, record_id: str) -> SealedPdf:
        places, pages = field_places(pdf)
        seal_place = next((p for p in places if p.name == SEAL_BOOKMARK), None)
        if seal_place is None:
            raise SealError("The document has no place for the office seal (the template lacks the 'seal' bookmark).")
        writer = IncrementalPdfFileWriter(io.BytesIO(pdf), strict=False)
        party_fields = [p for p in places if p.name != SEAL_BOOKMARK]
        for place in party_fields:
            fields.append_signature_field(
                writer, fields.SigFieldSpec(sig_field_name=place.name, on_page=place.page, box=place.box)
            )
        meta = signers.PdfSignatureMetadata(
            field_name=SEAL_FIELD,
            certify=True,
            docmdp_permissions=fields.MDPPerm.FILL_FORMS,
            subfilter=fields.SigSeedSubFilter.PADES,
            md_algorithm=self._digest,
            reason=f"Accord record {record_id}, sealed by the office",
            location=self._office,
            **self._long_term_settings(),
        )
        style = TextStampStyle(
            stamp_text=f"Sealed by %(signer)s\nAccord record {record_id}\n%(ts)s",
            text_box_style=TextBoxStyle(font=self._font, font_size=8, leading=10),
            inner_content_layout=pdf_layout.SimpleBoxLayoutRule(
                x_align=pdf_layout.AxisAlignment.ALIGN_MIN, y_align=pdf_layout.AxisAlignment.ALIGN_MID,
                margins=pdf_layout.Margins(4, 4, 4, 4),
            ),
            border_width=1,
            timestamp_format="%Y-%m-%d %H:%M UTC",
        )
        pdf_signer = signers.PdfSigner(
            meta,
            signer=self._signer,
            timestamper=self._timestamper,
            stamp_style=style,
            new_field_spec=fields.SigFieldSpec(sig_field_name=SEAL_FIELD, on_page=seal_place.page, box=seal_place.box),
        )
        out = io.BytesIO()
        try:
            # Knowing the signature's size spares pyHanko a dry-run signature per document;
            # with a time-stamp service the token's size varies, so pyHanko estimates each time.
            reserved = None if self._timestamper else self._reserved
            pdf_signer.sign_pdf(writer, output=out, bytes_reserved=reserved)
        except SigningError as exc:
            raise _seal_failure(exc) from None
        except timestamps.TimestampRequestError as exc:
            raise TimestampUnavailable(f"The time-stamp service could not be reached ({type(exc).__name__}); "
                                       "the file stays staged.") from exc
        except (cv_errors.PathError, cv_errors.ValidationError) as exc:  # the time-stamp service's chain
            raise PkiError(f"The time-stamp service's certificate could not be validated: {exc} "
                           "(its root must be in seal.extra_trust_roots).") from None
        if self._reserved is None and not self._timestamper:
            self._reserved = 2 * _signature_size(out.getvalue()) + _RESERVE_MARGIN  # hex digits
        return SealedPdf(
            pdf=out.getvalue(),
            level=pdf_level(out.getvalue()) if self._timestamper else "B-B",
            signer=self.signer_name,
            signature_fields=tuple(p.name for p in party_fields),
            pages=pages,
        )


    @property
    def long_term(self) -> bool:
        return self._long_term

    def _long_term_settings(self) -> dict:
        """B-LT and B-LTA: validation data fetched now, with a fresh context per document
        (a shared one would pile up every response it ever fetched into each PDF)."""
        if not self._long_term:
            return {}
        return {
            "embed_validation_info": True,
            "use_pades_lta": True,
            # revocation data is fetched and must be found for every certificate, so a revoked or
            # unverifiable seal certificate is refused
            "validation_context": self._trust.online_context(),
        }


def _seal_failure(exc: SigningError) -> Exception:
    """A plain sentence for why pyHanko would not seal: a revoked certificate is the document's
    failure (``SealError``); unreachable revocation services are a system fault (``PkiError``)."""
    cause: BaseException | None = exc
    while cause is not None:
        if isinstance(cause, cv_errors.RevokedError):
            return SealError(f"The office seal certificate is revoked, so nothing can be sealed with it "
                             f"({cause}). Replace the seal certificate.")
        if isinstance(cause, cv_errors.InsufficientRevinfoError):
            return PkiError(f"The revocation status of the office seal certificate could not be learnt "
                            f"(OCSP responder or CRL unreachable, or none named in the certificate): {cause}")
        if isinstance(cause, cv_errors.PathBuildingError):
            return SealError(f"The office seal certificate does not chain to a trusted root: {cause}")
        if isinstance(cause, cv_errors.ValidationError):
            return SealError(f"The office seal certificate is not valid: {cause}")
        cause = cause.__cause__
    return SealError(f"The office seal could not be applied: {exc}")


def describe_sealed(pdf: bytes) -> SealedPdf:
    """What a sealed PDF in the archive says about its seal (to rebuild a lost catalog row)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signatures = reader.embedded_regular_signatures
    seal = next((s for s in signatures if s.field_name == SEAL_FIELD), None)
    if seal is None:
        raise SealError("The archived PDF carries no office seal.")
    subject = seal.signer_cert.subject
    fields_offered = [name for name, value, _ in fields.enumerate_sig_fields(reader)
                      if name != SEAL_FIELD and not _is_document_timestamp(value)]
    return SealedPdf(
        pdf=pdf,
        level=signature_level(reader, seal),
        signer=subject.native.get("common_name") or subject.human_friendly,
        signature_fields=tuple(fields_offered),
        pages=len(PdfReader(io.BytesIO(pdf)).pages),
    )


def _signature_size(pdf: bytes) -> int:
    from pyhanko.pdf_utils.reader import PdfFileReader

    (signature,) = PdfFileReader(io.BytesIO(pdf), strict=False).embedded_regular_signatures
    return len(signature.pkcs7_content)


def _has_timestamp(signature) -> bool:
    attrs = signature.signer_info["unsigned_attrs"]
    if attrs.native is None:
        return False
    return any(a["type"].native == "signature_time_stamp_token" for a in attrs)


def _is_document_timestamp(value) -> bool:
    try:
        return value is not None and value.get_object().get("/Type") == "/DocTimeStamp"
    except Exception:  # an unreadable value is not a document time-stamp
        return False


def pdf_level(pdf: bytes) -> str:
    """The PAdES level of the office seal of a PDF (of its first signature when there is no seal)."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    reader = PdfFileReader(io.BytesIO(pdf), strict=False)
    signatures = reader.embedded_regular_signatures
    seal = next((s for s in signatures if s.field_name == SEAL_FIELD), signatures[0] if signatures else None)
    if seal is None:
        raise SealError("The PDF carries no signature.")
    return signature_level(reader, seal)


def signature_level(reader, signature) -> str:
    """PAdES level of one signature, from what the file holds: B-B; B-T with a signature
    time-stamp; B-LT when revocation data is embedded as well (document security store);
    B-LTA when a document time-stamp was added after it."""
    if not _has_timestamp(signature):
        return "B-B"
    if not has_revocation_data(reader):
        return "B-T"
    later = [ts for ts in reader.embedded_timestamp_signatures if ts.signed_revision > signature.signed_revision]
    return "B-LTA" if later else "B-LT"


def has_revocation_data(reader) -> bool:
    """Whether the document security store holds OCSP responses or CRLs."""
    dss = reader.root.get("/DSS")
    if dss is None:
        return False
    dss = dss.get_object()
    return any(len(dss.get(key, generic.ArrayObject()).get_object()) for key in ("/OCSPs", "/CRLs"))


def make_timestamper(url: str | None, username: str | None = None, password: str | None = None):
    """An RFC 3161 client for ``url``, or ``None`` when no service is configured."""
    if not url:
        return None
    auth = (username, password or "") if username else None
    return timestamps.HTTPTimeStamper(url, auth=auth)


def make_sealer(ws: Workspace, config: Config) -> Sealer:
    """The office's sealer (the key loaded once), at the level the settings ask for."""
    signer = office_signer(ws.pki, config)
    password = None
    if config.seal.timestamp_password_env:
        password = os.environ.get(config.seal.timestamp_password_env)
    timestamper = make_timestamper(config.seal.timestamp_url, config.seal.timestamp_username, password)
    long_term = bool(config.seal.revocation and timestamper)
    # B-LT/B-LTA: the seal is validated online against the workspace's roots
    trust = TrustRoots.of(ws, config) if long_term else None
    return Sealer(signer, office_name=config.office.name, digest=config.seal.digest, timestamper=timestamper,
                  long_term=long_term, trust=trust)


def office_signer(pki_dir: Path, config: Config) -> signers.Signer:
    """The office's seal signer: from the configured PKCS#11 token, else from the PKCS#12 identity."""
    if config.seal.pkcs11_module:
        return load_pkcs11_signer(config.seal)
    return load_signer(ensure_identity(pki_dir, config), config.seal.digest)
