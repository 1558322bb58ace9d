"""Benchmarks: ``sink bench codec``, ``sink bench wire``, ``sink bench memory``.

Benchmarks print figures; nothing here asserts a time. The data they
measure is :mod:`.profiles` (committed, seeded), shared by all of them.
"""
