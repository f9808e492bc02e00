"""Accord: sealed, archived and searchable agreements for an ADR office."""

__version__ = "0.1.0"
