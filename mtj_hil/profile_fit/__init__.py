"""Die profiles fitted from measured runs, and writing them as profile TOML."""

from mtj_hil.compat.legacy_names import forwarder as _forwarder

__getattr__ = _forwarder(__name__, ("mtj_hil.profile_fit.fit",))
"""0.1 names of this module that moved (deprecated)."""
