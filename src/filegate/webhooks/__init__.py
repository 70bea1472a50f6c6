"""Webhooks: a POST to the caller's callback URL when a ticket reaches a final state."""
