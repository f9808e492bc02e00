"""The accord command, driven through click's CliRunner against real workspaces."""

from __future__ import annotations

import json
import shutil
import stat
import zipfile

import click
import pytest

from pipeline.cli import cli

from .helpers import record_of, run_cli


def _commands(group: click.Group, prefix: tuple[str, ...] = ()):
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            yield from _commands(command, prefix + (name,))
        else:
            yield prefix + (name,), command


class TestHelp:
    @pytest.mark.parametrize("path", [p for p, _ in _commands(cli)], ids=lambda p: " ".join(p))
    def test_every_command_teaches(self, path):
        """Every command's --help carries an example."""
        result = run_cli(*path, "--help")
        assert result.exit_code == 0, result.output
        assert "Example:" in result.output and "accord " in result.output

    @pytest.mark.parametrize("path", [p for p, c in _commands(cli) if p != ("init",)], ids=lambda p: " ".join(p))
    def test_every_command_takes_workspace(self, path):
        """Every command that works on a workspace takes --workspace."""
        assert "--workspace" in run_cli(*path, "--help").output


class TestInit:
    def test_init_creates_workspace(self, tmp_path):
        """init copies templates and writes a configuration; a second init on the same folder is refused."""
        target = tmp_path / "office"
        result = run_cli("init", str(target))
        assert result.exit_code == 0, result.output
        assert (target / "templates" / "resolution-agreement.docx").is_file()
        assert (target / "templates" / "mou.yaml").is_file()
        assert (target / "accord.yaml").is_file() and (target / "inbox").is_dir()
        again = run_cli("init", str(target))
        assert again.exit_code != 0 and "already holds a workspace" in again.output

    def test_not_a_workspace(self, tmp_path):
        """A folder that is not a workspace is named as such."""
        result = run_cli("search", "--workspace", str(tmp_path))
        assert result.exit_code != 0 and "not an Accord workspace" in result.output

    def test_accord_home(self, sealed_office):
        """ACCORD_HOME picks the workspace when --workspace is not given."""
        result = run_cli("search", "--json", env={"ACCORD_HOME": str(sealed_office.ws.root)})
        assert result.exit_code == 0 and len(json.loads(result.output)) == 2


class TestReadCommands:
    def test_search_json(self, sealed_office):
        """search --json prints objects with at least record_id, template, case_id, title and created."""
        result = run_cli("search", "Nunez", "--json", "--workspace", str(sealed_office.ws.root))
        assert result.exit_code == 0, result.output
        (hit,) = json.loads(result.output)
        assert {"record_id", "template", "case_id", "title", "created"} <= set(hit)
        assert hit["case_id"] == "ADR-2026-0142"

    def test_search_filters_and_limit(self, sealed_office):
        """Filters and --limit work from the command line; no query lists everything."""
        ws = str(sealed_office.ws.root)
        assert len(json.loads(run_cli("search", "--json", "-w", ws).output)) == 2
        assert len(json.loads(run_cli("search", "--json", "--limit", "1", "-w", ws).output)) == 1
        only = json.loads(run_cli("search", "--json", "--template", "mou", "-w", ws).output)
        assert [r["template"] for r in only] == ["mou"]
        assert json.loads(run_cli("search", "--json", "--party", "Priya Raman", "-w", ws).output)[0]["case_id"] == "MOU-2026-007"
        assert json.loads(run_cli("search", "--json", "--from", "2030-01-01", "-w", ws).output) == []

    def test_show(self, sealed_office):
        """show prints one record; unknown ids are an error."""
        record = record_of(sealed_office, "mou")
        result = run_cli("show", record["record_id"], "--json", "-w", str(sealed_office.ws.root))
        assert json.loads(result.output)["sha256"] == record["sha256"]
        missing = run_cli("show", "NOPE-1", "-w", str(sealed_office.ws.root))
        assert missing.exit_code != 0 and "No record" in missing.output

    def test_verify_and_get(self, sealed_office, tmp_path):
        """verify reports OK; get writes the exact sealed bytes, readable by the owner only."""
        ws = str(sealed_office.ws.root)
        record = record_of(sealed_office, "resolution-agreement")
        result = run_cli("verify", "--all", "--json", "-w", ws)
        assert result.exit_code == 0, result.output
        assert all(r["ok"] for r in json.loads(result.output))
        out = tmp_path / "copy.pdf"
        assert run_cli("get", record["record_id"], "-o", str(out), "-w", ws).exit_code == 2  # --purpose is required
        got = run_cli("get", record["record_id"], "-o", str(out), "--purpose", "Appeal review", "-w", ws)
        assert got.exit_code == 0, got.output
        assert out.read_bytes() == (sealed_office.ws.root / record["pdf_path"]).read_bytes()
        assert stat.S_IMODE(out.stat().st_mode) == 0o600
        again = run_cli("get", record["record_id"], "-o", str(out), "--purpose", "Appeal review", "-w", ws)
        assert again.exit_code != 0 and "--force" in again.output

    def test_verify_needs_target(self, sealed_office):
        """verify without a record id or --all is a usage error."""
        assert run_cli("verify", "-w", str(sealed_office.ws.root)).exit_code == 2


class TestTemplatesCheck:
    def test_shipped_templates_pass(self, workspace):
        """The shipped templates use only declared fields."""
        result = run_cli("templates", "check", "--json", "-w", str(workspace.root))
        assert result.exit_code == 0, result.output
        assert {r["template"] for r in json.loads(result.output)} == {
            "mou", "resolution-agreement", "case-intake", "notice-of-informal-resolution",
            "consent-to-informal-resolution", "withdrawal-notice", "completion-letter"}

    def test_undeclared_variable_reported(self, workspace):
        """A variable the schema does not declare, and a declared field never used, are both reported."""
        docx = workspace.templates / "mou.docx"
        with zipfile.ZipFile(docx) as zf:
            parts = {n: zf.read(n) for n in zf.namelist()}
        xml = parts["word/document.xml"].decode()
        xml = xml.replace("{{ purpose }}", "{{ mou.budget_code }}", 1)
        assert "mou.budget_code" in xml
        parts["word/document.xml"] = xml.encode()
        with zipfile.ZipFile(docx, "w") as zf:
            for name, data in parts.items():
                zf.writestr(name, data)
        result = run_cli("templates", "check", "-w", str(workspace.root))
        assert result.exit_code == 1
        assert "used by the template but not declared: mou.budget_code" in result.output
        assert "declared but not used by the template: purpose" in result.output


class TestProcessCommand:
    def test_process_exit_codes(self, workspace, examples, cli_stored_pdfs):
        """process exits 0 when everything was recorded and 1 when a file failed."""
        shutil.copy(examples / "mou.yaml", workspace.inbox)
        ok = run_cli("process", "-q", "-w", str(workspace.root))
        assert ok.exit_code == 0, ok.output
        assert "1 recorded" in ok.output
        (workspace.inbox / "broken.yaml").write_text("template: [unclosed\n")
        bad = run_cli("process", "-q", "-w", str(workspace.root))
        assert bad.exit_code == 1
        assert "FAILED" in bad.output and "broken.yaml" in bad.output
        assert (workspace.failed / "broken.yaml.reason.txt").is_file()
