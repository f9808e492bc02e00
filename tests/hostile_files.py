"""Hostile inbox files: names and contents that once stopped the whole office's intake.

Used by the watcher test and ``bench/bench_hostile_burst.py``. Each file comes with what must
become of it: ``recorded`` (a valid case file, however named: long names, ids that clash),
``duplicate``, ``events`` or ``failed`` (with a reason), so a run can be checked file by file.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from pipeline.intake.inbox import printable_name

NAME_MAX = 255


@dataclass(frozen=True)
class Hostile:
    name: str
    data: bytes
    expect: str
    """``recorded``, ``duplicate``, ``events`` or ``failed``."""
    why: str
    group: str = ""
    """Files of one group may end in either of their expected outcomes (two copies of one file
    taken at once: which one is recorded and which is the duplicate depends on timing)."""


def agreement(examples: Path, case_id: str, **replace: str) -> bytes:
    text = (examples / "resolution-agreement.yaml").read_text(encoding="utf-8").replace("ADR-2026-0142", case_id)
    for old, new in replace.items():
        text = text.replace(old, new)
    return text.encode("utf-8")


def colliding_pair(base: bytes) -> tuple[bytes, bytes]:
    """Two versions of ``base`` (a comment line added) whose SHA-256 share their first 8 hex digits."""
    seen: dict[str, bytes] = {}
    n = 0
    while True:
        variant = base + f"# version {n}\n".encode()
        prefix = hashlib.sha256(variant).hexdigest()[:8]
        if prefix in seen:
            return seen[prefix], variant
        seen[prefix] = variant
        n += 1


def long_name(stem: str, suffix: str = ".yaml") -> str:
    """A name of exactly 255 bytes: no room for ".reason.json" beside it."""
    return stem + "x" * (NAME_MAX - len(stem) - len(suffix)) + suffix


def hostile_files(examples: Path, first_case: int = 8000) -> list[Hostile]:
    """Twenty hostile files; the case ids start at ``ADR-2026-{first_case}``."""
    def case(n: int) -> str:
        return f"ADR-2026-{first_case + n}"

    broken = agreement(examples, case(0)).replace(b"facilitator:", b"facilitator: [")
    one, two = colliding_pair(agreement(examples, case(1)))
    three, four = colliding_pair(agreement(examples, case(2)))
    recorded_twice = agreement(examples, case(3))
    files = [
        Hostile(long_name("fails-"), broken, "failed", "a 255-byte name that fails"),
        Hostile(long_name("fails-too-"), broken + b"#2\n", "failed", "another 255-byte name that fails"),
        Hostile(long_name("valid-"), agreement(examples, case(4)), "recorded", "a valid file with a 255-byte name"),
        Hostile("clash-1a.yaml", one, "recorded", "first of two versions sharing 8 hex digits"),
        Hostile("clash-1b.yaml", two, "recorded", "second of two versions sharing 8 hex digits"),
        Hostile("clash-2a.yaml", three, "recorded", "first of another such pair"),
        Hostile("clash-2b.yaml", four, "recorded", "second of another such pair"),
        Hostile("notes.yaml.reason.txt", b"the coordinator's own notes\n", "failed", "named like a reason file"),
        Hostile("notes.yaml.reason.json", b'{"mine": true}\n', "failed", "named like a reason file"),
        Hostile("notes.yaml", broken + b"#3\n", "failed", "fails where reason files of that name exist"),
        Hostile("twice.yaml", recorded_twice, "recorded", "recorded once", group="twice"),
        Hostile(long_name("twice-"), recorded_twice, "duplicate", "a 255-byte-named copy of it", group="twice"),
        Hostile("utf16.yaml", b"\xff\xfe" + agreement(examples, case(5)).decode().encode("utf-16-le"), "failed",
                "UTF-16"),
        Hostile("rlo.yaml", agreement(examples, case(6), **{"Zoë Núñez": "Zoë \u202egnp.exe"}), "failed",
                "a right-to-left override in a name"),
        Hostile("surrogate.json", b'{"template": "mou", "mou": {"id": "MOU-1", "title": "\\ud800"}}', "failed",
                "an unpaired surrogate"),
        Hostile("line\nbreak.yaml", broken + b"#4\n", "failed", "a newline in the name"),
        Hostile(os.fsdecode(b"latin1-caf\xe9.yaml"), broken + b"#5\n", "failed", "a name that is not UTF-8"),
        Hostile("zz-events-first.csv", f"case_id,event,date,note\n{case(7)},closed,2026-11-30,\n".encode(), "events",
                "events for a case whose file comes in the same burst"),
        Hostile("zz-case-of-the-events.yaml", agreement(examples, case(7)), "recorded", "the events' case"),
        Hostile("binary.yaml", b"\x00\x01\x02" * 100, "failed", "binary data"),
    ]
    assert len(files) == 20
    return files


def mismatches(files: list[Hostile], outcomes: dict[str, str]) -> list[str]:
    """What did not end as expected: ``outcomes`` maps each file's name to its outcome's status."""
    problems = []
    groups: dict[str, tuple[list[str], list[str]]] = {}
    for f in files:
        got = outcomes.get(printable_name(f.name), "no outcome")
        if f.group:
            wanted, seen = groups.setdefault(f.group, ([], []))
            wanted.append(f.expect)
            seen.append(got)
        elif got != f.expect:
            problems.append(f"{f.name[:40]!r} ({f.why}): {got}, expected {f.expect}")
    for group, (wanted, seen) in groups.items():
        if sorted(wanted) != sorted(seen):
            problems.append(f"group {group}: {sorted(seen)}, expected {sorted(wanted)}")
    return problems
