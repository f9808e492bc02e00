"""``accord serve``: the web portal for legal counsel, the records officer and the auditor.

A server-rendered Starlette application over the same library calls as the command line
(:class:`pipeline.office.OfficeSession`, :class:`pipeline.office.RetentionDesk`), so there
is one set of access rules and one audit log.
"""
