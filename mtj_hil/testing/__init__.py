"""Harnesses for tests and benches (hostile start states, other projects' drivers against the virtual lab).

No runtime module imports this package.
"""
