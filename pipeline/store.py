"""The catalog file and every table in it: the one place that knows each area's migrations.

Each area owns its tables, their migrations (a sqlite-utils ``Migrations`` set) and their SQL:

===========================  ===================================================
``records/catalog.py``       records, records_fts, record_ids, tombstones
``records/failures.py``      failures
``records/events.py``        events
``records/audit.py``         audit, anchors
``records/countersign.py``   signatures
``records/fixity.py``        fixity
``cases/casebook.py``        cases, case_tombstones, case_backfill, terms
``cases/agenda.py``          agenda
``governance/holds.py``      holds, hold_items
``governance/disposition``   proposals, proposal_items
===========================  ===================================================

:func:`open_catalog` opens the file and brings every area's tables up to date, in that order
(signatures refer to records, so the record store comes first).
"""

from __future__ import annotations

from pathlib import Path

from pipeline.cases import agenda, casebook
from pipeline.governance import disposition, holds
from pipeline.records import audit, catalog, countersign, events, failures, fixity
from pipeline.records.catalog import Catalog
from pipeline.records.schema import migrate

SETS = (catalog.MIGRATIONS, failures.MIGRATIONS, events.MIGRATIONS, audit.MIGRATIONS, countersign.MIGRATIONS,
        fixity.MIGRATIONS, casebook.MIGRATIONS, agenda.MIGRATIONS, holds.MIGRATIONS, disposition.MIGRATIONS)

#: The numbered steps of the single list catalogs were migrated by before each area had its own set,
#: with the steps of the areas' sets that do what each did.
LEGACY = {
    "0001_records": (("catalog", "0001_records"), ("failures", "0001_failures")),
    "0002_events": (("events", "0001_events"),),
    "0003_audit": (("audit", "0001_audit"),),
    "0004_retention": (("catalog", "0002_retention"), ("failures", "0002_purged_at"), ("holds", "0001_holds"),
                       ("disposition", "0001_proposals"), ("fixity", "0001_fixity")),
    "0005_signatures": (("catalog", "0003_executed"), ("signatures", "0001_signatures")),
    "0006_versions": (("catalog", "0004_versions"),),
    "0007_protection": (("catalog", "0005_protection"),),
    "0008_record_ids": (("catalog", "0006_record_ids"),),
    "0009_searchable_text": (("catalog", "0007_searchable_text"),),
}


def open_catalog(path: Path) -> Catalog:
    """The catalog file at ``path``, its tables up to date (created on first use)."""
    opened = Catalog(path)
    try:
        migrate(opened, SETS, LEGACY)
    except BaseException:
        opened.close()
        raise
    return opened
