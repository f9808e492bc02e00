"""Every exception Accord raises on purpose, in one module (as structlog keeps its own, "to avoid
import loops"): one hierarchy, one area each, messages a coordinator can act on.

Two branches tell intake what to do with a file that could not be processed:

- :class:`FileFault`: the file's own fault (invalid data, a document LibreOffice refuses, a seal
  the file's content breaks). The file goes to ``inbox/failed/`` with the message as its reason.
- :class:`SystemFault`: not the file's fault (a full disk, an unwritable archive, no LibreOffice,
  a time-stamp service that does not answer). Intake stops and the file stays staged.

:class:`Waiting` is not an error: the file needs something that has not been recorded yet.
The worker's stage loop is the one place that turns these into outcomes.
"""

from __future__ import annotations


class AccordError(Exception):
    """Base class of every error Accord raises on purpose."""

    step = "accord"


class ConfigurationError(AccordError):
    """A configuration, template schema or policy file is wrong."""

    step = "configuration"


class DateError(AccordError):
    """A date or time someone typed cannot be read, or names a day that does not exist."""

    step = "input"


# --- what becomes of a file at intake -------------------------------------------------------------


class FileFault(AccordError):
    """The file's own fault: it goes to ``inbox/failed/`` with this message as the reason."""

    step = "intake"

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


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


class IntakeError(FileFault):
    """A case file could not be read or does not match its template's schema."""

    step = "intake"


class CountersignError(IntakeError):
    """A signed copy that cannot be brought into its record; the message says why, plainly."""

    step = "countersign"


# --- documents ------------------------------------------------------------------------------------


class AssemblyError(FileFault):
    """The Word template could not be filled with the case data."""

    step = "assemble"


class ConversionError(FileFault):
    """LibreOffice could not turn the document into PDF/A."""

    step = "convert"


class ConverterUnavailable(SystemFault):
    """No LibreOffice instance could be started or reached."""

    step = "convert"


class SealError(FileFault):
    """The office seal could not be applied to this document."""

    step = "seal"


class PkiError(SystemFault):
    """The office certificate or key could not be created or loaded."""

    step = "pki"


class TimestampUnavailable(SystemFault):
    """The time-stamp service could not be reached; the file stays staged."""

    step = "seal"


# --- records --------------------------------------------------------------------------------------


class ArchiveError(SystemFault):
    """The sealed record could not be written to the archive."""

    step = "archive"


class CatalogError(SystemFault):
    """The catalog could not be read or written."""

    step = "catalog"


class RecordNotFound(AccordError):
    """No record with that id exists (or the user may not see it)."""

    step = "catalog"


class VerificationFailed(AccordError):
    """The record's file no longer matches its checksum or its seal does not validate."""

    step = "verify"

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])


class PreservationError(AccordError):
    """A record's long-term seal could not be renewed."""

    step = "preserve"


# --- governance -----------------------------------------------------------------------------------


class AccessDenied(AccordError):
    """The actor may not do this."""

    step = "access"


class AccountError(AccordError):
    """An account could not be added, changed or used."""

    step = "account"


class SignInRefused(AccountError):
    """Wrong name or password, or sign-in refused for a while after too many failures."""

    def __init__(self, message: str, throttled: bool = False):
        super().__init__(message)
        self.throttled = throttled


class HoldError(AccordError):
    """A hold could not be placed or released."""

    step = "hold"


class SweepError(AccordError):
    """A sweep or a disposition could not be carried out."""

    step = "sweep"


class FutureSweep(SweepError):
    """A sweep as of a day still to come was asked to write a proposal (it may only look ahead)."""


class ReportError(AccordError):
    """A report could not be made as asked (a period backwards, counts that contradict each other)."""

    step = "report"
