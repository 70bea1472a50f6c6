"""The licence: a signed document of limits, verified at start-up and periodically."""
