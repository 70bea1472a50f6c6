"""Expiry: deleting archives no live ticket holds, and what crashed builds left behind."""
