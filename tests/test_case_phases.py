"""A case's phase is a pure function of what is on file: each rule of the lifecycle as a table.

The facts are built by hand (no catalog, no documents): an intake with its assessment, notices,
consents, sessions, agreements and the coordinator's events, each dated. The replay returns the
phase and since when, the outcome, the parties' notice and consent, the gaps, the closures the
happenings imply, and a refusal for each new happening that does not fit the case at its date.
"""

from __future__ import annotations

import datetime as dt

import pytest

from pipeline.cases.phases import CaseFacts, Consent, Happening, Outcome, Party, Phase, replay, with_new

D = dt.date
TODAY = D(2026, 12, 1)
CASE = "ADR-2026-0150"
AIGERIM = Party("Aigerim Bekova", "reporting party", "graduate-student")
LUKAS = Party("Lukas Schmidt", "responding party", "postdoc")
PARTIES = (AIGERIM, LUKAS)

OPENED = Happening(D(2026, 3, 2), "opened", ref="intake")
ASSESSED = Happening(D(2026, 3, 9), "assessed", ref="intake", process="restorative-justice")
NOTICE_A = Happening(D(2026, 3, 10), "notice", party="Aigerim Bekova", ref="notice-a", due=D(2026, 3, 24))
CONSENT_A = Happening(D(2026, 3, 13), "consent", party="Aigerim Bekova")
CONSENT_L = Happening(D(2026, 3, 16), "consent", party="Lukas Schmidt")
SESSION = Happening(D(2026, 3, 24), "session")
AGREEMENT = Happening(D(2026, 4, 8), "agreement", ref="agreement", process="restorative-justice")
SIGNED = Happening(D(2026, 4, 8), "agreement-signed")


def facts(*happenings: Happening, has_intake: bool = True, parties=PARTIES,
          agreement_parties: tuple[str, ...] = ()) -> CaseFacts:
    return CaseFacts(CASE, has_intake, parties, tuple(happenings), agreement_parties)


def state(*happenings: Happening, **kw):
    return replay(facts(*happenings, **kw), TODAY)


def refusal(new: Happening, *on_file: Happening, **kw):
    """The refusal of ``new`` against ``on_file`` (None when it fits)."""
    found = replay(with_new(facts(*on_file, **kw), new), TODAY)
    return found.refusals[0] if found.refusals else None


@pytest.mark.parametrize("happenings, phase, since", [
    ((OPENED,), Phase.INTAKE, D(2026, 3, 2)),
    ((OPENED, ASSESSED), Phase.ASSESSED, D(2026, 3, 9)),
    ((OPENED, ASSESSED, NOTICE_A), Phase.AWAITING_CONSENT, D(2026, 3, 10)),
    ((OPENED, ASSESSED, NOTICE_A, CONSENT_A), Phase.AWAITING_CONSENT, D(2026, 3, 10)),
    ((OPENED, ASSESSED, NOTICE_A, CONSENT_A, CONSENT_L), Phase.IN_PROCESS, D(2026, 3, 16)),
    ((OPENED, ASSESSED, NOTICE_A, CONSENT_A, CONSENT_L, SESSION), Phase.IN_PROCESS, D(2026, 3, 16)),
    ((OPENED, ASSESSED, CONSENT_A, CONSENT_L, AGREEMENT), Phase.AGREEMENT, D(2026, 4, 8)),
    ((OPENED, ASSESSED, CONSENT_A, CONSENT_L, AGREEMENT, SIGNED), Phase.MONITORING, D(2026, 4, 8)),
    # order on file does not matter: the replay goes by date
    ((SIGNED, AGREEMENT, CONSENT_L, CONSENT_A, ASSESSED, OPENED), Phase.MONITORING, D(2026, 4, 8)),
], ids=["intake", "assessed", "notice-issued", "one-consent", "every-consent", "session-keeps-phase",
        "agreement", "signed", "any-order"])
def test_the_phase_follows_what_is_on_file(happenings, phase, since):
    """Each step of the lifecycle moves the case to its phase, on the date of the step."""
    found = state(*happenings)
    assert (found.phase, found.since, found.outcome) == (phase, since, None)


@pytest.mark.parametrize("closing, outcome", [
    (Happening(D(2026, 3, 20), "case-withdrawn", party="Lukas Schmidt"), Outcome.WITHDRAWN),
    (Happening(D(2026, 3, 20), "case-referred"), Outcome.REFERRED),
    (Happening(D(2026, 3, 20), "withdrawal-notice", party="Aigerim Bekova", ref="w"), Outcome.WITHDRAWN),
], ids=["withdrawn", "referred", "withdrawal-notice"])
def test_a_withdrawal_or_a_referral_closes_the_case_and_asks_for_a_closure(closing, outcome):
    """A withdrawal or a referral closes the case with its outcome, and the replay asks for the
    case-closed event that starts the retention clock."""
    found = state(OPENED, ASSESSED, NOTICE_A, CONSENT_A, closing)
    assert (found.phase, found.outcome, found.closed_on) == (Phase.CLOSED, outcome, D(2026, 3, 20))
    assert found.closing == ((D(2026, 3, 20), outcome),)
    closed = Happening(D(2026, 3, 20), "case-closed")
    assert state(OPENED, ASSESSED, NOTICE_A, CONSENT_A, closing, closed).closing == ()


def test_not_suitable_closes_the_case_at_the_assessment():
    """An assessment deciding not-suitable closes the case with that outcome on its date."""
    found = state(OPENED, Happening(D(2026, 3, 9), "assessed", ref="intake", process="not-suitable"))
    assert (found.phase, found.outcome, found.closed_on, found.process) == \
        (Phase.CLOSED, Outcome.NOT_SUITABLE, D(2026, 3, 9), None)
    assert found.closing == ((D(2026, 3, 9), Outcome.NOT_SUITABLE),)


def test_a_plain_closure_has_no_outcome_and_asks_for_nothing():
    """The coordinator's closed event closes the case without an outcome."""
    found = state(OPENED, ASSESSED, Happening(D(2026, 5, 1), "case-closed"))
    assert (found.phase, found.outcome, found.closing) == (Phase.CLOSED, None, ())


def test_a_reopening_returns_to_the_phase_before_the_closure():
    """A reopening after a closure puts the case back where it was; after not-suitable, back to intake."""
    closed = Happening(D(2026, 3, 20), "case-closed")
    reopened = Happening(D(2026, 3, 25), "case-reopened")
    found = state(OPENED, ASSESSED, NOTICE_A, closed, reopened)
    assert (found.phase, found.since, found.outcome) == (Phase.AWAITING_CONSENT, D(2026, 3, 25), None)
    unsuitable = Happening(D(2026, 3, 9), "assessed", ref="intake", process="not-suitable")
    assert state(OPENED, unsuitable, reopened).phase == Phase.INTAKE


def test_parties_show_notice_and_consent():
    """Each party's notice date and consent (pending, given, withdrawn) with its date."""
    found = state(OPENED, ASSESSED, NOTICE_A, CONSENT_A, Happening(D(2026, 3, 18), "case-withdrawn",
                                                                  party="lukas  SCHMIDT"))
    a, lukas = found.parties
    assert (a.name, a.notice, a.consent, a.consent_on) == ("Aigerim Bekova", D(2026, 3, 10), Consent.GIVEN,
                                                           D(2026, 3, 13))
    assert (lukas.notice, lukas.consent, lukas.withdrawn_on) == (None, Consent.WITHDRAWN, D(2026, 3, 18))


def test_history_keeps_each_phase_with_its_evidence():
    """The history lists every phase entered, when, and what put the case there."""
    found = state(OPENED, ASSESSED, NOTICE_A, CONSENT_A, CONSENT_L, AGREEMENT, SIGNED)
    assert [(s.phase, s.since) for s in found.history] == [
        (Phase.INTAKE, D(2026, 3, 2)), (Phase.ASSESSED, D(2026, 3, 9)), (Phase.AWAITING_CONSENT, D(2026, 3, 10)),
        (Phase.IN_PROCESS, D(2026, 3, 16)), (Phase.AGREEMENT, D(2026, 4, 8)), (Phase.MONITORING, D(2026, 4, 8))]
    assert found.history[2].evidence == "notice issued" and found.history[2].ref == "notice-a"


def test_the_next_date_due_is_an_unanswered_notice():
    """A notice's answer date is due until the party consents (or the case closes)."""
    assert state(OPENED, ASSESSED, NOTICE_A).next_due == D(2026, 3, 24)
    assert state(OPENED, ASSESSED, NOTICE_A, CONSENT_A).next_due is None
    assert state(OPENED, ASSESSED, NOTICE_A, Happening(D(2026, 3, 12), "case-referred")).next_due is None


@pytest.mark.parametrize("happenings, gaps", [
    ((OPENED, ASSESSED, NOTICE_A, CONSENT_A, CONSENT_L), ["no notice on file for Lukas Schmidt"]),
    ((OPENED, ASSESSED, NOTICE_A, CONSENT_A), []),
], ids=["consent-without-notice", "none"])
def test_a_consent_without_a_notice_is_a_gap(happenings, gaps):
    """A party who consented with no written notice on file is listed as a gap."""
    assert list(state(*happenings).gaps) == gaps


def test_an_older_case_lists_what_is_missing():
    """A case Accord has no intake for starts at its agreement and lists the intake and the consents."""
    older = dict(has_intake=False, parties=(), agreement_parties=("Zoë Núñez", "Daniel O'Brien"))
    agreement = Happening(D(2026, 11, 20), "agreement", ref="ra", process="mediation")
    found = state(agreement, **older)
    assert found.phase == Phase.AGREEMENT
    assert list(found.gaps) == ["no intake record", "no consent on file for Zoë Núñez",
                                "no consent on file for Daniel O'Brien"]
    consented = state(agreement, Happening(D(2026, 11, 10), "consent", party="ZOË  NÚÑEZ"),
                      **older)
    assert "no consent on file for Zoë Núñez" not in consented.gaps


@pytest.mark.parametrize("new, on_file, says, waits", [
    (Happening(D(2026, 12, 2), "session"), (OPENED, ASSESSED), "after today", False),
    (Happening(D(2026, 3, 1), "session"), (OPENED, ASSESSED), "before case ADR-2026-0150 was opened", False),
    (Happening(D(2026, 3, 5), "notice", party="Aigerim Bekova"), (OPENED,), "no assessment yet", False),
    (Happening(D(2026, 3, 5), "session"), (OPENED,), "no assessment yet", False),
    (Happening(D(2026, 3, 12), "consent", party="Mallory Stranger"), (OPENED, ASSESSED),
     "not a party of case ADR-2026-0150", False),
    (Happening(D(2026, 3, 12), "consent"), (OPENED, ASSESSED), "must name the party", False),
    (Happening(D(2026, 3, 12), "case-withdrawn"), (OPENED, ASSESSED), "must name the party who withdraws", False),
    (Happening(D(2026, 3, 20), "consent", party="Lukas Schmidt"),
     (OPENED, ASSESSED, Happening(D(2026, 3, 15), "case-withdrawn", party="Lukas Schmidt")), "closed on 2026-03-15",
     False),
    (Happening(D(2026, 5, 1), "case-withdrawn", party="Lukas Schmidt"),
     (OPENED, ASSESSED, CONSENT_A, CONSENT_L, AGREEMENT, SIGNED), "can no longer withdraw", False),
    (Happening(D(2026, 5, 1), "consent", party="Lukas Schmidt"),
     (OPENED, ASSESSED, CONSENT_A, AGREEMENT), "comes before the agreement", False),
    (Happening(D(2026, 5, 1), "case-closed"), (OPENED, ASSESSED, Happening(D(2026, 4, 1), "case-referred")),
     "reopened first", False),
    (Happening(D(2026, 5, 1), "case-reopened"), (OPENED, ASSESSED), "is not closed", False),
    (Happening(D(2026, 5, 1), "agreement-signed"), (OPENED, ASSESSED), "no agreement on file", True),
    (Happening(D(2026, 5, 2), "agreement-signed"), (OPENED, ASSESSED, CONSENT_A, CONSENT_L, AGREEMENT, SIGNED),
     "already signed on 2026-04-08", False),
], ids=["after-today", "before-opened", "notice-before-assessment", "session-before-assessment",
        "consent-of-a-stranger", "consent-without-party", "withdrawal-without-party", "closed-case",
        "withdrawal-after-signing", "consent-after-agreement", "closing-a-closed-case", "reopening-an-open-case",
        "signing-without-agreement", "signing-twice"])
def test_what_does_not_fit_the_phase_is_refused(new, on_file, says, waits):
    """A happening that does not fit the case at its date is refused with a sentence saying why,
    and waits only when what it needs can still arrive."""
    found = refusal(new, *on_file)
    assert found is not None and says in found.reason, found
    assert found.waits is waits


def test_refusals_never_quote_a_name():
    """A refusal names the case and the dates, never the party it was given."""
    found = refusal(Happening(D(2026, 3, 12), "consent", party="Mallory <Stranger>"), OPENED, ASSESSED)
    assert "Mallory" not in found.reason


@pytest.mark.parametrize("on_file, agreement_parties, says, waits", [
    ((OPENED, ASSESSED, CONSENT_A), ("Aigerim Bekova", "Lukas Schmidt"), "party 2 of the agreement has no consent",
     True),
    ((OPENED, ASSESSED, CONSENT_A, CONSENT_L), ("Aigerim Bekova", "Someone Else"), "party 2 of the agreement is not a "
     "party", False),
    ((OPENED,), ("Aigerim Bekova", "Lukas Schmidt"), "no assessment yet", True),
    ((OPENED, ASSESSED, CONSENT_A, Happening(D(2026, 3, 20), "case-withdrawn", party="Lukas Schmidt"),
      Happening(D(2026, 3, 21), "case-reopened")), ("Aigerim Bekova", "Lukas Schmidt"),
     "party 2 of the agreement withdrew", False),
], ids=["consent-missing", "not-a-party", "not-assessed", "party-withdrew"])
def test_the_agreement_guard(on_file, agreement_parties, says, waits):
    """An agreement for a case with an intake needs every party of it to be a party of the case who
    consented and did not withdraw; a missing consent can still arrive, so the file waits."""
    found = refusal(AGREEMENT, *on_file, agreement_parties=agreement_parties)
    assert found is not None and says in found.reason, found
    assert found.waits is waits


def test_the_agreement_must_use_the_process_decided():
    """An agreement reached through another process than the one the assessment decided is refused."""
    mediation = Happening(D(2026, 4, 8), "agreement", ref="agreement", process="mediation")
    found = refusal(mediation, OPENED, ASSESSED, CONSENT_A, CONSENT_L,
                    agreement_parties=("Aigerim Bekova", "Lukas Schmidt"))
    assert "not the one the assessment of case ADR-2026-0150 decided (restorative-justice)" in found.reason


def test_an_agreement_with_every_consent_fits():
    """With both consents on file before it, the agreement is admitted."""
    assert refusal(AGREEMENT, OPENED, ASSESSED, CONSENT_A, CONSENT_L,
                   agreement_parties=("Aigerim Bekova", "lukas schmidt")) is None


def test_an_older_case_closes_again_and_takes_consents():
    """A case without an intake keeps retention's rule (a later closure counts) and takes a consent."""
    older = dict(has_intake=False, parties=(), agreement_parties=("Zoë Núñez", "Daniel O'Brien"))
    agreement = Happening(D(2026, 11, 20), "agreement", ref="ra", process="mediation")
    closed = Happening(D(2026, 11, 25), "case-closed")
    assert refusal(Happening(D(2026, 11, 28), "case-closed"), agreement, closed, **older) is None
    assert refusal(Happening(D(2026, 11, 21), "consent", party="Daniel O'Brien"), agreement, **older) is None
