"""Orchestrators: the seed-compatible classes users call, implemented once over the plugin hooks."""
