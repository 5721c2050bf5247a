"""Die profiles fitted from measured runs, and writing them as profile TOML."""
