"""No single file can stop intake: names, id clashes, batch order, crash-safe records, hidden characters.

Each class is one defect that once stopped the whole office (or hid a record); every test runs
the real pipeline (``accord process``'s runner with the office seal) on a workspace in tmp_path,
converting with the stored PDFs (tests/helpers.StoredConverter: nothing here reads a PDF's pages).
"""

from __future__ import annotations

import datetime
import hashlib
import json
import os
from pathlib import Path

import pytest

from pipeline.documents.seal import make_sealer
from pipeline.errors import SystemFault
from pipeline.intake import inbox
from pipeline.intake.ingest import Ingestor
from pipeline.records import events
from pipeline.records.search import SearchQuery

from .helpers import Office, owner_session
from .hostile_files import agreement, colliding_pair

NAME_MAX = 255


def invalid(examples: Path) -> bytes:
    """A resolution agreement that fails intake (a party without a name)."""
    return agreement(examples, "ADR-2026-0142").replace(b"  - name: Zo\xc3\xab N\xc3\xba\xc3\xb1ez\n", b"  - \n")


def names_in(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir()) if folder.is_dir() else []


class TestLongNames:
    """A name too long to carry Accord's side files once stopped intake for good (ENAMETOOLONG)."""

    def test_failing_file_with_a_255_byte_name_fails_with_its_reason(self, office: Office, examples):
        """A failing file whose name leaves no room for ".reason.json" lands in failed/ under a shortened
        name, with the whole name in its reason file and the catalog, and the next file is recorded."""
        long_name = "x" * (NAME_MAX - len(".yaml")) + ".yaml"
        office.drop(long_name, invalid(examples))
        office.drop("good.yaml", agreement(examples, "ADR-2026-0500"))
        summary = office.process()
        assert summary.stopped is None
        assert sorted(o.status for o in summary.outcomes) == ["failed", "recorded"]
        kept = [n for n in names_in(office.ws.failed) if not n.endswith((".reason.txt", ".reason.json"))]
        assert len(kept) == 1 and kept[0].endswith(".yaml") and len(kept[0].encode()) < NAME_MAX - 12
        assert (office.ws.failed / kept[0]).read_bytes() == invalid(examples)
        reason = json.loads((office.ws.failed / (kept[0] + ".reason.json")).read_text(encoding="utf-8"))
        assert reason["source_name"] == long_name
        assert long_name in (office.ws.failed / (kept[0] + ".reason.txt")).read_text(encoding="utf-8")
        row = office.ingestor.catalog.db.execute("SELECT source_name FROM failures").fetchone()
        assert row[0] == long_name
        assert list(office.ws.staging.iterdir()) == []

    def test_duplicate_with_a_255_byte_name_is_noted(self, office: Office, examples):
        """A 255-byte-named copy of a recorded file goes to processed/ with its note, instead of stopping intake."""
        office.drop("first.yaml", agreement(examples, "ADR-2026-0142"))
        assert [o.status for o in office.process().outcomes] == ["recorded"]
        long_name = "é" * ((NAME_MAX - len(".yaml")) // 2) + ".yaml"
        assert len(long_name.encode()) <= NAME_MAX
        office.drop(long_name, agreement(examples, "ADR-2026-0142"))
        summary = office.process()
        assert summary.stopped is None and [o.status for o in summary.outcomes] == ["duplicate"]
        day = next(office.ws.processed.iterdir())
        notes = [n for n in names_in(day) if n.endswith(".note.txt")]
        assert len(notes) == 1 and all(len(n.encode()) <= NAME_MAX for n in names_in(day))

    def test_name_that_is_not_utf8_fails_with_a_readable_reason(self, office: Office, examples):
        """A file named in Latin-1 bytes (not UTF-8) fails with a reason that shows those bytes as \\xNN."""
        name = os.fsdecode(b"caf\xe9.txt")
        office.drop(name, b"hello")
        summary = office.process()
        assert summary.stopped is None and [o.status for o in summary.outcomes] == ["failed"]
        reason = json.loads(next(office.ws.failed.glob("*.reason.json")).read_text(encoding="utf-8"))
        assert reason["source_name"] == "caf\\xe9.txt"


class TestFailedFilesAreNeverOverwritten:
    """A failed input once had its bytes replaced by Accord's note about another file."""

    def test_a_dropped_reason_name_keeps_its_bytes(self, office: Office, examples):
        """notes.yaml.reason.txt dropped first, then a failing notes.yaml: both inputs stay byte for byte."""
        office.drop("notes.yaml.reason.txt", b"the coordinator's own notes")
        office.process()
        office.drop("notes.yaml", invalid(examples))
        office.process()
        failed = office.ws.failed
        assert (failed / "notes.yaml.reason.txt").read_bytes() == b"the coordinator's own notes"
        kept = [p for p in failed.iterdir() if p.read_bytes() == invalid(examples)]
        assert len(kept) == 1 and kept[0].name != "notes.yaml"  # notes.yaml would have clashed
        assert (failed / (kept[0].name + ".reason.txt")).is_file()

    def test_same_name_failing_twice_keeps_both(self, office: Office, examples):
        """Two failing files of the same name, one after the other, are both kept with their own reasons."""
        for content in (b"first", b"second"):
            office.drop("notes.txt", content)
            office.process()
        inputs = sorted(p.read_bytes() for p in office.ws.failed.iterdir() if not p.name.endswith((".txt.reason.txt", ".reason.txt", ".reason.json")))
        assert inputs == [b"first", b"second"]


def colliding_variants(examples: Path) -> tuple[bytes, bytes]:
    """Two versions of one case file whose SHA-256 share their first 8 hex digits."""
    return colliding_pair(agreement(examples, "ADR-2026-0777"))


class TestRecordIdCollisions:
    """Record ids keep 8 hex digits of the source's SHA-256; two versions sharing them once stopped intake."""

    def test_second_version_with_the_same_prefix_gets_a_longer_id(self, office: Office, examples):
        """Both versions are recorded: the second with 12 hex digits, superseding the first."""
        first, second = colliding_variants(examples)
        assert hashlib.sha256(first).hexdigest()[:8] == hashlib.sha256(second).hexdigest()[:8]
        office.drop("v1.yaml", first)
        assert [o.status for o in office.process().outcomes] == ["recorded"]
        office.drop("v2.yaml", second)
        summary = office.process()
        assert summary.stopped is None and [o.status for o in summary.outcomes] == ["recorded"]
        records = {r["source_sha256"]: r for r in office.ingestor.catalog.all_records()}
        one, two = records[hashlib.sha256(first).hexdigest()], records[hashlib.sha256(second).hexdigest()]
        assert one["record_id"] == f"ADR-2026-0777-{hashlib.sha256(first).hexdigest()[:8]}"
        assert two["record_id"] == f"ADR-2026-0777-{hashlib.sha256(second).hexdigest()[:12]}"
        assert two["supersedes"] == one["record_id"] and one["status"] == "superseded"

    def test_both_versions_in_one_batch(self, office: Office, examples):
        """Dropped together (both in flight at once), the two versions still get two distinct ids."""
        first, second = colliding_variants(examples)
        office.drop("v1.yaml", first)
        office.drop("v2.yaml", second)
        summary = office.process()
        assert summary.stopped is None
        assert sorted(o.status for o in summary.outcomes) == ["recorded", "recorded"]
        ids = sorted(o.record_id for o in summary.outcomes)
        assert len(set(ids)) == 2 and {len(i) for i in ids} == {len("ADR-2026-0777-") + 8, len("ADR-2026-0777-") + 12}

    def test_the_same_file_again_keeps_its_id(self, office: Office, examples):
        """The id is the file's for good: a failed attempt gives it back, a later success reuses the short one."""
        first, _ = colliding_variants(examples)
        office.drop("v1.yaml", first)
        office.process()
        office.drop("again.yaml", first)
        assert [o.status for o in office.process().outcomes] == ["duplicate"]


class TestBatchOrder:
    """An event file dropped with its case's first case file was once refused as naming an unknown case."""

    def test_event_file_before_case_file_by_name(self, office: Office, examples):
        """a-events.csv sorts before z-agreement.yaml, yet the events are recorded against the new record."""
        office.drop("a-events.csv", (examples / "case-events.csv").read_bytes())
        office.drop("z-agreement.yaml", (examples / "resolution-agreement.yaml").read_bytes())
        summary = office.process()
        assert summary.stopped is None
        assert sorted(o.status for o in summary.outcomes) == ["events", "recorded"]
        recorded = events.of_case(office.ingestor.catalog, "ADR-2026-0142")
        assert [e["event"] for e in recorded] == ["case-closed"]

    def test_event_file_waits_for_a_case_file_in_flight(self, office: Office, examples):
        """Several case files and the event file in one batch: the event file waits while its case's file
        is converted, then goes through as soon as it is recorded."""
        for n in range(3):
            office.drop(f"case-{n}.yaml", agreement(examples, f"ADR-2026-06{n}0"))
        office.drop("events.csv", b"case_id,event,date,note\nADR-2026-0620,closed,2026-11-30,\n")
        summary = office.process()
        assert sorted(o.status for o in summary.outcomes) == ["events", "recorded", "recorded", "recorded"]

    def test_event_file_for_a_case_that_never_arrives_fails_at_the_end(self, office: Office, examples):
        """An event file whose case has no record and no file on its way fails, at the end of the run,
        with the row and the case named; the other files are recorded."""
        office.drop("events.csv", b"case_id,event,date,note\nADR-2026-9999,closed,2026-11-30,\n")
        office.drop("case.yaml", agreement(examples, "ADR-2026-0630"))
        summary = office.process()
        failed = [o for o in summary.outcomes if o.status == "failed"]
        assert [o.source_name for o in failed] == ["events.csv"]
        assert "line 2: no record belongs to case ADR-2026-9999" in failed[0].reason
        assert list(office.ws.staging.iterdir()) == []


class _PoisonOnce(Ingestor):
    """An ingestor for which files named ``poison*`` meet a system fault at conversion: a stand-in
    for an input that trips an unknown bug deep in a library."""

    def convert(self, prepared):
        if prepared.staged.name.startswith("poison"):
            raise SystemFault("The converter stopped answering.")
        return super().convert(prepared)


class TestPoisonFiles:
    """A file that keeps meeting a system fault while others go through is set aside, not retried forever."""

    def test_poison_file_is_failed_and_the_rest_recorded_in_one_run(self, workspace, stored_converter, examples):
        """poison.yaml first in the batch: intake stops on it, tries the others, and when it meets the
        fault again after they went through it is failed with the reason; one run of accord process."""
        config = workspace.load_config()
        ingestor = _PoisonOnce(workspace, config, stored_converter, sealer=make_sealer(workspace, config))
        office = Office(workspace, ingestor)
        try:
            office.drop("poison.yaml", agreement(examples, "ADR-2026-0700"))
            for n in range(2):
                office.drop(f"good-{n}.yaml", agreement(examples, f"ADR-2026-071{n}"))
            summary = office.process()
            assert summary.stopped is None, summary.stopped
            statuses = {o.source_name: o.status for o in summary.outcomes}
            assert statuses == {"poison.yaml": "failed", "good-0.yaml": "recorded", "good-1.yaml": "recorded"}
            reason = next(o.reason for o in summary.outcomes if o.status == "failed")
            assert "while other files went through" in reason and "converter stopped answering" in reason
            assert (workspace.failed / "poison.yaml").is_file()
            assert list(workspace.staging.iterdir()) == []
        finally:
            ingestor.close()

    def test_a_fault_of_the_system_fails_nothing(self, office: Office, examples):
        """An archive that cannot be written (its year folder is a file: even root cannot write into it)
        stops the run with every file still staged and none failed; once it is fixed the next run
        records them all."""
        for n in range(2):
            office.drop(f"case-{n}.yaml", agreement(examples, f"ADR-2026-072{n}"))
        year = office.ws.archive / str(datetime.date.today().year)
        year.write_bytes(b"not a folder")
        try:
            summary = office.process()
        finally:
            year.unlink()
        assert summary.stopped and not summary.failed
        assert len(inbox.staged(office.ws)) == 2
        summary = office.process()
        assert summary.stopped is None and [o.status for o in summary.outcomes] == ["recorded", "recorded"]


class TestOneTransaction:
    """A record, the events from its data and its due date were written in three transactions."""

    def test_due_date_failure_leaves_no_half_record(self, office: Office, examples):
        """When computing the due date fails inside the write, neither the record, nor its data's events,
        nor anything else of it is left in the catalog; the file stays staged."""
        mou = (examples / "mou.yaml").read_bytes()
        office.drop("mou.yaml", mou)

        class Broken:
            def schedule_for(self, record_class):
                raise SystemFault("The retention schedules could not be read.")

        office.ingestor.retention = Broken()
        summary = office.process()
        assert summary.stopped
        catalog = office.ingestor.catalog
        assert catalog.count() == 0
        assert catalog.db.execute("SELECT count(*) FROM events").fetchone()[0] == 0
        assert catalog.db.execute("SELECT count(*) FROM records_fts").fetchone()[0] == 0
        assert len(inbox.staged(office.ws)) == 1

    def test_records_without_a_due_reason_are_recomputed_at_start(self, office: Office, examples):
        """A record left without its due date (an older catalog, or a crash) gets it at the next start."""
        office.drop("mou.yaml", (examples / "mou.yaml").read_bytes())
        office.process()
        catalog = office.ingestor.catalog
        catalog.db.execute("UPDATE records SET due_date = NULL, due_reason = NULL")
        office.process()
        row = catalog.db.execute("SELECT due_date, due_reason FROM records").fetchone()
        assert row["due_date"] == "2035-11-30" and "agreement-expired on 2028-11-30" in row["due_reason"]


class TestHiddenCharacters:
    """Invisible characters once hid records from search and party matching."""

    def test_direction_controls_are_refused_with_the_field_named(self, office: Office, examples):
        """A party name with U+202E (right-to-left override) is refused, naming the field and the code point."""
        office.drop("rlo.yaml", agreement(examples, "ADR-2026-0142", **{"Zoë Núñez": "Zoë Núñez \u202egnp.exe"}))
        outcome = office.process().outcomes[0]
        assert outcome.status == "failed"
        assert "parties[0].name contains an invisible direction control (U+202E)" in outcome.reason
        assert "gnp" not in outcome.reason

    @pytest.mark.parametrize("char", ["\u2066", "\u2069", "\u202a"])
    def test_isolates_and_embeddings_are_refused(self, office: Office, examples, char):
        """Isolates (U+2066-U+2069) and embeddings (U+202A-U+202D) are refused too."""
        office.drop("bidi.yaml", agreement(examples, "ADR-2026-0142", **{"Daniel O'Brien": f"Daniel {char}O'Brien"}))
        assert office.process().outcomes[0].status == "failed"

    def test_zero_width_characters_do_not_hide_a_party(self, office: Office, examples):
        """A name typed with a zero-width space and a joiner is kept as typed in the document, yet
        found by search and by the party filter."""
        name = "Zoë N\u200bú\u200dñez"
        office.drop("zw.yaml", agreement(examples, "ADR-2026-0142", **{"Zoë Núñez": name}))
        assert office.process().outcomes[0].status == "recorded"
        record = next(office.ingestor.catalog.all_records())
        assert record["parties"][0] == name
        with owner_session(office.ws) as session:
            assert session.search(SearchQuery(text="Nunez")).total == 1
            assert session.search(SearchQuery(party="Zoë Núñez")).total == 1
            assert session.search(SearchQuery(party="Nunez")).total == 1
            assert session.search(SearchQuery(text="N\u200bunez")).total == 1

    def test_lone_surrogate_is_refused_at_intake(self, office: Office, examples):
        """A JSON case file with "\\ud800" is refused at intake, naming the field (not at the seal step)."""
        import yaml

        data = yaml.safe_load(agreement(examples, "ADR-2026-0142"))
        for key in ("opened",):
            data["case"][key] = data["case"][key].isoformat()
        data["agreement_date"] = data["agreement_date"].isoformat()
        for term in data["terms"]:
            if term.get("due"):
                term["due"] = term["due"].isoformat()
        data["follow_up_date"] = data["follow_up_date"].isoformat()
        text = json.dumps(data).replace("Morgan Lee", "Morgan \\ud800Lee")
        office.drop("surrogate.json", text.encode("ascii"))
        outcome = office.process().outcomes[0]
        assert outcome.status == "failed" and outcome.step == "intake"
        assert "facilitator.name contains a broken character" in outcome.reason
