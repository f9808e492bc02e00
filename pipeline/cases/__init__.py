"""Cases: a case from its intake to its close, as the office's rules see it.

The rubric (the office's own suitability rules, pure), the phases a case goes through and the
events each phase admits (pure), the case register (the ``cases`` table and the tombstones of
destroyed cases), the checks a case's documents must pass before they are sealed, and the case
as the documents filled from it see it.
"""
