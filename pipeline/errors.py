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
