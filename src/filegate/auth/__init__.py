"""Who may call: apps, users, sessions, scopes and rate limits."""
