"""Registers the ``covers`` marker; helpers live in sinktest.py."""

from __future__ import annotations

import pytest


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "covers(*ids): spec requirement IDs this test checks")
