"""Accord's exceptions: one hierarchy, one area each, messages a coordinator can act on."""

from __future__ import annotations


class AccordError(Exception):
    """Base class of every error Accord raises on purpose."""

    step = "accord"


class ConfigurationError(AccordError):
    """A configuration, template schema or policy file is wrong."""

    step = "configuration"


class IntakeError(AccordError):
    """A case file could not be read or does not match its template's schema."""

    step = "intake"

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class AssemblyError(AccordError):
    """The Word template could not be filled with the case data."""

    step = "assemble"


class ConversionError(AccordError):
    """LibreOffice could not turn the document into PDF/A."""

    step = "convert"


class ConverterUnavailable(ConversionError):
    """No LibreOffice instance could be started or reached."""


class SealError(AccordError):
    """The office seal could not be applied."""

    step = "seal"


class ArchiveError(AccordError):
    """The sealed record could not be written to the archive."""

    step = "archive"


class CatalogError(AccordError):
    """The catalog could not be read or written."""

    step = "catalog"


class RecordNotFound(AccordError):
    """No record with that id exists (or the user may not see it)."""

    step = "catalog"


class PkiError(AccordError):
    """The office certificate or key could not be created or loaded."""

    step = "pki"


class SystemFault(AccordError):
    """Processing stopped for a reason that is not the file's fault; the file stays staged."""

    step = "system"


class Waiting(Exception):
    """Not an error: the file needs something that has not been recorded yet (the first record of
    its case). It stays staged and is tried again when something for that case is recorded; it
    fails with :attr:`reason` if nothing does (at the end of ``accord process``, or after
    ``watch.wait_minutes``). Caught in one place, the worker's stage loop, like a processor's
    ``DropEvent`` in structlog."""

    def __init__(self, reason: str, case_ids: tuple[str, ...], problems: list[str] | None = None):
        super().__init__(reason)
        self.reason = reason
        self.case_ids = tuple(case_ids)
        self.problems = list(problems or [])
