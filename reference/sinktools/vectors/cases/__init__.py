"""The golden vectors' sources, one module per spec document: :mod:`.v0`, :mod:`.v1`, and :mod:`.avro` (examples)."""
