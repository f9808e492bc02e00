"""Governance: who may do what, accounts, legal holds, retention schedules, due dates, disposition, sweeps."""
