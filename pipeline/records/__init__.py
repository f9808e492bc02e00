"""Records: the archive, the catalog and its search, the audit log, verification, signed copies, preservation."""
