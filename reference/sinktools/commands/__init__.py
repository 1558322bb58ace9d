"""What each ``sink`` subcommand does, as functions of settings or plain arguments; :mod:`sinktools.cli` parses."""
