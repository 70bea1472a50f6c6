"""Browsing the source store one folder level at a time, within the caller's scopes."""
