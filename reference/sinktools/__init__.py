"""sinktools: the ``sink`` command's tooling, above the core package :mod:`sinkproto`.

:mod:`.cli` (the only module that parses a command line) wires the
subcommands to :mod:`.commands` (the reference peers, the store's operations,
``sink decode``, ``sink vectors``), :mod:`.bench` (the benchmarks) and
:mod:`.vectors` (the golden vectors' format, case builders, checker and
regenerator). :mod:`.schema_evolution` lints schema changes; :mod:`.logfmt`
formats the peers' logs. Nothing in :mod:`sinkproto` imports this package.
"""
