"""Prometheus metrics: per API process (HTTP) and cluster-wide (kept in Redis, read at scrape time)."""
