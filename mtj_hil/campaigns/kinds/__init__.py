"""The shipped campaign task kinds, one module each (registered on first lookup)."""
