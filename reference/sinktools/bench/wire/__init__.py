"""``sink bench wire``: bytes on the wire for the same events over Sink v0 and v1, MQTT, HTTP and CoAP.

One module per part: :mod:`.capture` (tcpdump and pcap parsing, traffic per
phase), :mod:`.pki` (certificates, ports), :mod:`.clients` and
:mod:`.servers` (one per protocol), :mod:`.report` (tables, chart) and
:mod:`.run` (the phases, the run, ``main``), which says how it counts.
"""

from __future__ import annotations

from .capture import PHASES, Traffic
from .report import Result, format_report
from .run import main, run

__all__ = ["Traffic", "Result", "run", "format_report", "main", "PHASES"]
