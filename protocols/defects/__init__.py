"""Defect detection: the defect codes, write-read cycles, the evidence-based classifier and the
bias signature."""
