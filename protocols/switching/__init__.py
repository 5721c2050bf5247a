"""Switching characterisation: the plan and procedure, the analysis of the counts, the thermal-activation fits."""
