"""The bus: transport locks and deadlines, and the guarded VISA session every SMU talks through."""
