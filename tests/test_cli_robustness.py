"""The accord command on the edges: failed deliveries, standard output, dates people mistype, the
audit triggers, options before the subcommand, narrow terminals, hostile characters, damaged PDFs.

Everything runs through click's CliRunner (or a real subprocess where a real closed pipe is needed)
on private copies of conftest's sealed office.
"""

from __future__ import annotations

import io
import json
import logging
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline import logformat
from pipeline.cli import cli
from pipeline.display import escape
from pipeline.errors import AccordError
from pipeline.records import audit
from pipeline.store import open_catalog
from pipeline.workspace import Workspace

from .helpers import copy_workspace, owner_session, raw_db, records_by_template, run_cli

RA_CASE = "ADR-2026-0142"


@pytest.fixture
def ws(sealed_office, tmp_path) -> Workspace:
    """A private copy of the sealed office (both examples), as it was right after processing."""
    return copy_workspace(sealed_office.pristine, tmp_path / "ws")


def ra(ws: Workspace) -> dict:
    return records_by_template(ws)["resolution-agreement"]


def retrievals(ws: Workspace, record_id: str) -> list[dict]:
    """The record's retrieve entries in the record of disclosures, oldest first."""
    with open_catalog(ws.catalog) as catalog:
        return [e for e in audit.disclosures(catalog.db.conn, record_id) if e["action"] == "retrieve"]


# --- 1. a failed get is not a disclosure ----------------------------------------------------------


class TestGetDelivery:
    def test_missing_folder_is_a_plain_error_and_nothing_is_retrieved(self, ws, tmp_path):
        """get into a folder that does not exist exits 1 with a sentence, no traceback, and records no retrieval."""
        record = ra(ws)
        result = run_cli("get", record["record_id"], "-o", str(tmp_path / "no" / "such" / "x.pdf"),
                     "--purpose", "Appeal review", "-w", str(ws.root))
        assert result.exit_code == 1, result.output
        assert "does not exist" in result.stderr and "Traceback" not in result.output
        assert retrievals(ws, record["record_id"]) == []

    def test_unwritable_place_is_a_plain_error(self, ws):
        """get into a place no file can be created in (sysfs) exits 1 naming it, and records no retrieval."""
        if not Path("/sys/kernel").is_dir():
            pytest.skip("no sysfs here")
        record = ra(ws)
        result = run_cli("get", record["record_id"], "-o", "/sys/kernel/accord-test.pdf", "--purpose", "Appeal review",
                     "-w", str(ws.root))
        assert result.exit_code == 1, result.output
        assert "Cannot write in /sys/kernel" in result.stderr and "Traceback" not in result.output
        assert retrievals(ws, record["record_id"]) == []

    def test_file_is_written_whole_then_audited(self, ws, tmp_path):
        """get replaces the target with the verified bytes (mode 0600, no temporary file left) and audits ok once."""
        record = ra(ws)
        out = tmp_path / "out" / "copy.pdf"
        out.parent.mkdir()
        out.write_bytes(b"an older copy")
        got = run_cli("get", record["record_id"], "-o", str(out), "--purpose", "Appeal review", "--force",
                  "-w", str(ws.root))
        assert got.exit_code == 0, got.output
        assert out.read_bytes() == (ws.root / record["pdf_path"]).read_bytes()
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        assert sorted(p.name for p in out.parent.iterdir()) == ["copy.pdf"]
        assert [e["outcome"] for e in retrievals(ws, record["record_id"])] == ["ok"]

    def test_library_audits_ok_only_once_delivered(self, ws):
        """OfficeSession.retrieve writes no 'ok' while the delivery runs, and one 'ok' after it returns."""
        record = ra(ws)
        during: list[list[str]] = []

        def deliver(data: bytes) -> None:
            assert data.startswith(b"%PDF")
            during.append([e["outcome"] for e in retrievals(ws, record["record_id"])])

        with owner_session(ws) as session:
            got = session.retrieve(record["record_id"], "Appeal review", deliver=deliver)
        assert during == [[]]
        assert got.data == (ws.root / record["pdf_path"]).read_bytes()
        (entry,) = retrievals(ws, record["record_id"])
        assert entry["outcome"] == "ok" and entry["details"]["released"].endswith(".pdf")

    def test_library_delivery_into_a_closed_pipe_is_audited_as_failed(self, ws):
        """A delivery that fails (a real pipe whose reader is gone) raises a plain error and is audited 'failed'."""
        record = ra(ws)
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            with owner_session(ws) as session:
                with pytest.raises(AccordError, match="verified but not delivered: Broken pipe"):
                    session.retrieve(record["record_id"], "Appeal review", deliver=lambda data: os.write(write_end, data))
        finally:
            os.close(write_end)
        (entry,) = retrievals(ws, record["record_id"])
        assert entry["outcome"] == "failed" and entry["details"]["reason"] == "Broken pipe"
        assert entry["purpose"] == "Appeal review" and "released" not in entry["details"]

    def test_interrupted_delivery_is_audited_and_not_swallowed(self, ws):
        """Ctrl-C during the delivery is recorded as a failed retrieval and still stops the program."""
        record = ra(ws)

        def interrupted(data: bytes) -> None:
            raise KeyboardInterrupt

        with owner_session(ws) as session:
            with pytest.raises(KeyboardInterrupt):
                session.retrieve(record["record_id"], "Appeal review", deliver=interrupted)
        assert [(e["outcome"], e["details"]["reason"]) for e in retrievals(ws, record["record_id"])] == \
            [("failed", "interrupted (KeyboardInterrupt)")]

    def test_cli_stdout_closed_is_audited_as_failed(self, ws, tmp_path):
        """accord get -o - into a closed pipe exits 1 with a sentence (no traceback) and is audited 'failed', not 'ok'."""
        record = ra(ws)
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "pipeline.cli", "get", record["record_id"], "-o", "-",
                 "--purpose", "Hearing", "-w", str(ws.root)],
                stdout=write_end, stderr=subprocess.PIPE, text=True, cwd=tmp_path, timeout=120)
        finally:
            os.close(write_end)
        assert proc.returncode == 1, proc.stderr
        assert "was verified but not delivered: Broken pipe" in proc.stderr
        assert "Traceback" not in proc.stderr and "Exception ignored" not in proc.stderr
        assert [e["outcome"] for e in retrievals(ws, record["record_id"])] == ["failed"]
        assert not (tmp_path / "-").exists()


# --- 2. -o - is standard output --------------------------------------------------------------------


def test_get_dash_writes_the_pdf_to_stdout_only(ws, tmp_path, monkeypatch):
    """get -o - puts exactly the sealed PDF's bytes on standard output, the message on standard error, no file '-'."""
    monkeypatch.chdir(tmp_path)
    record = ra(ws)
    result = run_cli("get", record["record_id"], "-o", "-", "--purpose", "Print for the hearing", "-w", str(ws.root))
    assert result.exit_code == 0, result.stderr
    assert result.stdout_bytes == (ws.root / record["pdf_path"]).read_bytes()
    assert "Wrote standard output" in result.stderr
    assert not (tmp_path / "-").exists()
    assert [e["outcome"] for e in retrievals(ws, record["record_id"])] == ["ok"]


# --- 3. audit log --since / --until --------------------------------------------------------------


class TestAuditTimeFilter:
    @pytest.mark.parametrize("option", ["--since", "--until"])
    @pytest.mark.parametrize("value", ["notadate", "20261120", "2026-11-20T14", "yesterday"])
    def test_unreadable_time_is_refused(self, ws, option, value):
        """A --since or --until the library cannot read is an error naming the option and the forms it takes."""
        result = run_cli("audit", "log", option, value, "-w", str(ws.root))
        assert result.exit_code == 1, result.output
        assert f"{option} must be a date like 2026-11-20 or a time like 2026-11-20T14:30" in result.stderr
        assert [e for e in audit_entries(ws) if e["action"] == "read-audit"] == []  # refused before reading

    @pytest.mark.parametrize("value, why", [
        ("2026-02-30", "--until: 2026-02-30 is not a date: February 2026 has 28 days."),
        ("2026-11-20T24:00", "--until: 2026-11-20T24:00 is not a time: hours run from 00 to 23"),
        ("2026-11-20T10:00+99:00", "an offset from UTC is less than 24 hours"),
        ("0001-01-01T00:00+05:00", "is outside the years 1 to 9999"),
    ])
    def test_impossible_moment_is_explained(self, ws, value, why):
        """A date or time of the right shape that cannot exist says why (February 2026 has 28 days...)."""
        result = run_cli("audit", "log", "--until", value, "-w", str(ws.root))
        assert result.exit_code == 1
        assert why in result.stderr

    def test_library_refuses_too(self, ws):
        """OfficeSession.audit_log (what the portal calls) refuses the same value with the same sentence."""
        with owner_session(ws) as session:
            with pytest.raises(AccordError, match="--since must be a date like 2026-11-20"):
                session.audit_log(since="notadate")

    def test_dates_and_times_filter(self, ws):
        """A date means its whole day (--until today includes today's entries); a time with an offset is converted to UTC."""
        newest = list(audit_entries(ws))[0]["at"]
        day = newest[:10]
        until_day = json.loads(run_cli("audit", "log", "--until", day, "--json", "-w", str(ws.root)).stdout)
        assert newest in {e["at"] for e in until_day}
        after = json.loads(run_cli("audit", "log", "--since", f"{day}T23:59:59.999999-01:00", "--json",
                               "-w", str(ws.root)).stdout)
        assert [e["action"] for e in after] == []

    def test_portal_audit_filter_refuses_it(self, ws):
        """The portal's audit page answers an unreadable 'since' with a 400 page carrying the sentence."""
        from starlette.testclient import TestClient

        from pipeline.governance.access import grant
        from pipeline.governance.accounts import Accounts
        from pipeline.portal.app import create_app

        config = ws.load_config()
        assert grant(ws.policies / "access.yaml", "audit1", ("auditor",), (), workspace_owner=None)
        accounts = Accounts(ws.accounts, config.portal)
        accounts.add("audit1", "correct horse battery staple")
        app = create_app(ws, config, accounts=accounts)
        try:
            token = accounts.start_session("audit1", "127.0.0.1").token
            client = TestClient(app, client=("127.0.0.1", 50000), cookies={"accord_session": token})
            response = client.get("/audit", params={"since": "notadate"})
            assert response.status_code == 400
            assert "must be a date like 2026-11-20 or a time like 2026-11-20T14:30" in response.text
        finally:
            app.state.portal.close()
            accounts.close()


def audit_entries(ws: Workspace) -> list[dict]:
    with open_catalog(ws.catalog) as catalog:
        return list(audit.entries(catalog.db.conn, limit=100_000))


# --- 4. impossible dates -------------------------------------------------------------------------


@pytest.mark.parametrize("args", [
    ("event", "add", RA_CASE, "closed", "--date", "{d}"),
    ("search", "--from", "{d}"),
    ("search", "--to", "{d}"),
    ("sweep", "--as-of", "{d}", "--dry-run"),
    ("preserve", "--as-of", "{d}"),
], ids=["event-add", "search-from", "search-to", "sweep", "preserve"])
@pytest.mark.parametrize("value, why", [
    ("2026-02-30", "2026-02-30 is not a date: February 2026 has 28 days."),
    ("2028-02-30", "2028-02-30 is not a date: February 2028 has 29 days."),
    ("2026-04-31", "2026-04-31 is not a date: April 2026 has 30 days."),
    ("2026-13-01", "2026-13-01 is not a date: there is no month 13"),
    ("30/02/2026", "30/02/2026 is not a date like 2026-11-20 (year-month-day)."),
])
def test_impossible_date_is_explained_by_every_date_option(ws, args, value, why):
    """Every date option reads dates one way: an impossible day says why, a wrong shape shows the right one."""
    result = run_cli(*(a.format(d=value) for a in args), "-w", str(ws.root))
    assert result.exit_code == 2, result.output
    assert why in result.stderr and "does not match the format" not in result.stderr


# --- 5. the audit triggers -----------------------------------------------------------------------


class TestAuditTriggers:
    def test_intact_triggers_pass(self, ws):
        """With both triggers as created, audit verify exits 0 and reports nothing unprotected."""
        result = run_cli("audit", "verify", "-w", str(ws.root))
        assert result.exit_code == 0, result.output
        assert "NOT PROTECTED" not in result.output

    @pytest.mark.parametrize("trigger", ["audit_no_update", "audit_no_delete"])
    def test_dropped_trigger_is_named(self, ws, trigger):
        """A dropped trigger makes audit verify exit 1 naming it, although every entry still links up."""
        conn = raw_db(ws)
        conn.execute(f"DROP TRIGGER {trigger}")
        conn.close()
        result = run_cli("audit", "verify", "-w", str(ws.root))
        assert result.exit_code == 1, result.output
        assert "Chain intact" in result.stdout
        assert f"NOT PROTECTED: the trigger {trigger} is missing" in result.stdout
        report = json.loads(run_cli("audit", "verify", "--json", "-w", str(ws.root)).stdout)
        assert report["ok"] is False and [trigger in p for p in report["trigger_problems"]] == [True]

    def test_altered_trigger_is_named(self, ws):
        """A trigger replaced by one of the same name that lets updates through is reported as altered."""
        conn = raw_db(ws)
        conn.execute("DROP TRIGGER audit_no_update")
        conn.execute("CREATE TRIGGER audit_no_update BEFORE UPDATE ON audit BEGIN SELECT 1; END")
        conn.close()
        result = run_cli("audit", "verify", "-w", str(ws.root))
        assert result.exit_code == 1
        assert "NOT PROTECTED: the trigger audit_no_update was altered" in result.stdout

    def test_unprotected_log_is_not_anchored(self, ws):
        """With a trigger dropped, anchoring the log refuses (an anchor would vouch for an unprotected log)."""
        from pipeline.records.anchor import anchor_head

        conn = raw_db(ws)
        conn.execute("DROP TRIGGER audit_no_delete")
        conn.close()
        with open_catalog(ws.catalog) as catalog, pytest.raises(AccordError, match="not protected.*audit_no_delete"):
            anchor_head(ws, catalog, converter=None, sealer=None, office="Office", actor="test")

    def test_foreign_trigger_is_named(self, ws):
        """A trigger Accord did not create on the audit table (one could drop new entries) is reported."""
        conn = raw_db(ws)
        conn.execute("CREATE TRIGGER audit_quiet BEFORE INSERT ON audit BEGIN SELECT RAISE(IGNORE); END")
        conn.close()
        with open_catalog(ws.catalog) as catalog:
            chain = audit.verify_chain(catalog.db.conn)
        assert chain.ok and chain.trigger_problems == [
            "the audit table has a trigger audit_quiet that Accord did not create"]
        assert run_cli("audit", "verify", "-w", str(ws.root)).exit_code == 1


# --- 6. options before or after the subcommand ---------------------------------------------------


class TestGlobalOptions:
    @pytest.mark.parametrize("before, after", [
        (("--workspace", "{ws}"), ("status",)),
        (("-w", "{ws}", "--json"), ("search",)),
        (("--json",), ("search", "-w", "{ws}")),
        (("-w", "{ws}"), ("hold", "list", "--json")),
        (("-w", "{ws}", "hold"), ("list", "--json")),
        (("sweep", "--json", "-w", "{ws}"), ("list",)),
        (("-w", "{ws}", "--log-format", "json"), ("audit", "log", "--limit", "1")),
        (("--json", "-w", "{ws}"), ("case", "show", RA_CASE)),
        (("-w", "{ws}"), ("templates", "check")),
        (("--json", "-w", "{ws}"), ("user", "list")),
        (("-w", "{ws}", "audit"), ("verify",)),
        (("-w", "{ws}", "event"), ("add", RA_CASE, "closed", "--date", "2026-11-25")),
    ], ids=lambda v: " ".join(v))
    def test_before_the_subcommand(self, ws, before, after):
        """--workspace, --json and --log-format given before the subcommand (or a group) are taken."""
        args = [a.format(ws=ws.root) for a in (*before, *after)]
        result = run_cli(*args)
        assert result.exit_code == 0, result.output
        if "--json" in args:
            json.loads(result.stdout)

    def test_after_wins_over_before(self, ws, tmp_path):
        """A --workspace after the subcommand wins over one before it, whichever is the good one."""
        assert run_cli("-w", str(tmp_path), "search", "--json", "-w", str(ws.root)).exit_code == 0
        wrong = run_cli("-w", str(ws.root), "search", "--json", "-w", str(tmp_path))
        assert wrong.exit_code == 1 and "not an Accord workspace" in wrong.stderr

    def test_log_format_after(self, ws):
        """--log-format given after the subcommand is accepted as well."""
        assert run_cli("status", "--log-format", "json", "-w", str(ws.root)).exit_code == 0

    def test_accord_home_still_works(self, ws):
        """ACCORD_HOME picks the workspace when no --workspace is given anywhere."""
        result = run_cli("--json", "search", env={"ACCORD_HOME": str(ws.root)})
        assert result.exit_code == 0 and len(json.loads(result.stdout)) == 2

    def test_option_a_command_does_not_take_is_refused(self, ws, tmp_path):
        """--json before a command that prints no JSON is a usage error, not silently ignored."""
        result = run_cli("--json", "get", ra(ws)["record_id"], "-o", str(tmp_path / "x.pdf"), "--purpose", "x",
                     "-w", str(ws.root))
        assert result.exit_code == 2 and "get does not take --json" in result.stderr
        assert not (tmp_path / "x.pdf").exists()

    def test_every_group_lists_the_options(self):
        """Every group's --help lists --workspace, --json and --log-format."""
        for name, command in [("", cli), *cli.commands.items()]:
            if hasattr(command, "commands"):
                text = run_cli(*([name] if name else []), "--help").output
                assert all(flag in text for flag in ("--workspace", "--json", "--log-format")), name


# --- 7. ids whole in narrow terminals --------------------------------------------------------------


@pytest.mark.parametrize("columns", [80, 60, 120])
def test_search_table_keeps_ids_whole(ws, columns):
    """With COLUMNS=80 (or 60, 120) every record id and case id appears whole on one line; no line is wider."""
    result = run_cli("search", "-w", str(ws.root), env={"COLUMNS": str(columns)})
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    for record in records_by_template(ws).values():
        assert any(record["record_id"] in line for line in lines), (record["record_id"], result.stdout)
        assert any(record["case_id"] in line for line in lines), (record["case_id"], result.stdout)


def test_show_keeps_ids_whole(ws):
    """show prints each field on one line: the record id and the case id are never cut, even at 40 columns."""
    record = ra(ws)
    lines = run_cli("show", record["record_id"], "-w", str(ws.root), env={"COLUMNS": "40"}).stdout.splitlines()
    assert any(line.split() == ["record_id", record["record_id"]] for line in lines)
    assert any(line.split() == ["case_id", record["case_id"]] for line in lines)


# --- 8. control characters are shown, not obeyed -------------------------------------------------


def test_escape_shows_controls_and_keeps_letters():
    """escape() makes C0/C1, bidi, zero-width, line separators and other format characters visible; letters stay."""
    assert escape("Zoë Núñez 陈静 Ørsted") == "Zoë Núñez 陈静 Ørsted"
    assert escape("a\u202eb\u2066c\u200bd\u200fe") == "a\\u202eb\\u2066c\\u200bd\\u200fe"
    assert escape("one\ntwo\rthree\x00\x1b[31m\x85\u2028\u2029\ufeff") == \
        "one\\ntwo\\rthree\\x00\\x1b[31m\\x85\\u2028\\u2029\\ufeff"
    assert escape("tag\U000e0041") == "tag\\U000e0041" and escape(None) == ""


@pytest.fixture
def hostile(ws) -> dict:
    """The agreement's catalog entry holding a party with U+202E and a file name with a newline, as a catalog
    written before intake refused such characters holds them."""
    record = ra(ws)
    parties = ["Zo\u202eë Núñez", "Daniel O'Brien"]
    conn = raw_db(ws)
    conn.execute("UPDATE records SET parties = ?, source_name = ? WHERE record_id = ?",
                 [json.dumps(parties), "agree\nFAILED forged.yaml", record["record_id"]])
    conn.close()
    return {**record, "parties": parties}


def test_show_escapes_what_came_from_the_case(ws, hostile):
    """show prints the U+202E and the file name's newline as visible escapes: nothing raw, one line per field."""
    result = run_cli("show", hostile["record_id"], "-w", str(ws.root))
    assert result.exit_code == 0, result.output
    assert "\u202e" not in result.stdout and "Zo\\u202eë Núñez" in result.stdout
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("source_name")]
    assert line.endswith("agree\\nFAILED forged.yaml")
    assert not any(line.startswith("FAILED") for line in result.stdout.splitlines())


def test_search_table_and_json_escape_it(ws, hostile):
    """The search table shows the escape; --json writes it as a JSON escape, reading back the exact value."""
    table = run_cli("search", "-w", str(ws.root)).stdout
    assert "\u202e" not in table and "\\u202e" in table
    raw = run_cli("search", "--json", "-w", str(ws.root)).stdout
    assert "\u202e" not in raw
    (found,) = [r for r in json.loads(raw) if r["record_id"] == hostile["record_id"]]
    assert found["parties"] == hostile["parties"]


def test_text_log_record_is_one_line():
    """The text log shows a newline and U+202E in a message escaped: one record, one line."""
    stream = io.StringIO()
    saved = sys.stderr
    sys.stderr = stream
    try:
        logformat.configure(logging.INFO, "text")
    finally:
        sys.stderr = saved
    try:
        logging.getLogger("accord.test").warning("failed %s: %s", "agree\n2026-01-01 ERROR forged.yaml",
                                                 "party Zo\u202eë")
    finally:
        logformat.configure(logging.WARNING, "text")
    text = stream.getvalue()
    assert text.count("\n") == 1 and "\u202e" not in text
    assert text.rstrip("\n").endswith("failed agree\\n2026-01-01 ERROR forged.yaml: party Zo\\u202eë")


# --- 9. pyHanko's tracebacks --------------------------------------------------------------------


def damage_seal_certificate(pdf: Path) -> None:
    """Change one hex digit inside the seal's CMS: the length of the first certificate's signature
    algorithm (30 0D, then sha256WithRSAEncryption) becomes 0x1D, so the certificate no longer parses
    (pyHanko logs that with a traceback while it reaches its verdict)."""
    data = pdf.read_bytes()
    contents = data.rindex(b"/Contents <")
    at = data.index(b"300D06092A864886F70D01010B", contents) + len(b"30")
    assert data[at:at + 1] == b"0"
    os.chmod(pdf, 0o644)
    pdf.write_bytes(data[:at] + b"1" + data[at + 1:])


def test_damaged_pdf_verify_shows_no_traceback(ws):
    """accord verify on a seal pyHanko trips over reports it as failed; pyHanko's log is one plain line each
    (the logger and the kind of error), with no traceback."""
    record = ra(ws)
    damage_seal_certificate(ws.root / record["pdf_path"])
    result = run_cli("verify", record["record_id"], "-w", str(ws.root))
    assert result.exit_code == 1
    assert "FAILED" in result.stdout
    assert "Traceback" not in result.stderr and 'File "' not in result.stderr
    lines = result.stderr.splitlines()
    assert lines and all("The PDF libraries reported" in line and " in pyhanko" in line for line in lines), lines
