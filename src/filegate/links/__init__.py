"""Signed, expiring download links for archives served by the API itself."""
