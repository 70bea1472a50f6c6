"""Scheduling: which queued builds run now, within the build slots and the space budget."""
