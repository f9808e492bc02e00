"""Intake: the inbox, what becomes of each file dropped into it, the watcher."""
