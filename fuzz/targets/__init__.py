"""Fuzz target modules; each defines ``TARGET``, or ``TARGETS`` (one per protocol version in ``frame`` and ``batch``; see fuzz/target.py).

Adding a target is adding a file here: ``python -m fuzz list`` finds it,
``python -m fuzz run`` runs it, the CI smoke test and the regression replay
pick it up, and ``fuzz/regressions/<name>/`` holds its findings.
"""
