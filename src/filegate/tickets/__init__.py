"""Tickets: requests, their state and events in Redis, and the HTTP endpoints."""
