"""Virtual SMUs: one module per model, sharing a channel core and the SCPI/TSP parsers."""
