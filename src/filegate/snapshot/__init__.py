"""Snapshots: requested paths normalised, listed and pinned into a manifest."""
