"""Whole-die characterisation: the plan (with the one set of defaults the CLI shares) and the
resumable procedure."""
