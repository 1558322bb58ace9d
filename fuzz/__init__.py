"""Atheris/libFuzzer fuzzing of the Sink decoders (see docs/fuzzing.md).

``python -m fuzz run --seconds 60`` runs every target in fuzz/targets/ for a
minute each; ``python -m fuzz list`` names them. This package only imports
the standard library at import time: the code under test is imported inside
each fuzzing child, under Atheris's instrumentation.
"""
