"""Documents: templates and case files, assembly, conversion to PDF/A, the office seal and its keys."""
