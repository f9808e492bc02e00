"""The inbox while workers are finishing: looking at staging never trips over a claim that ends."""

from __future__ import annotations

import pathlib
import shutil

from pipeline.intake import inbox


def test_a_claim_finished_while_staging_is_listed_is_skipped(workspace, monkeypatch):
    """A claim folder a worker removes between the listing of staging and the look inside it is
    skipped (accord status and the watcher list staging while workers run); the others are found."""
    for name in ("a.yaml", "b.yaml"):
        (workspace.inbox / name).write_text("template: mou\n", encoding="utf-8")
        inbox.claim(workspace, workspace.inbox / name)
    slots = sorted(workspace.staging.iterdir())
    original = pathlib.Path.iterdir

    def listing_then_one_finishes(self):
        if self == slots[0]:
            shutil.rmtree(self)  # the worker finished this claim after staging was listed
        return original(self)

    monkeypatch.setattr(pathlib.Path, "iterdir", listing_then_one_finishes)
    assert [p.name for p in inbox.staged(workspace)] == [next(original(slots[1])).name]
