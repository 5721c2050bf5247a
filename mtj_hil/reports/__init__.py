"""PNG reports of run files, one module per measurement kind."""
