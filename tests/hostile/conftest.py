from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.hostile.harness import Sentinel


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    s = Sentinel()
    yield s
    s.cleanup()
