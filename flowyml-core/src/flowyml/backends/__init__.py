"""Backends that ship with core (the embedded local backend)."""
