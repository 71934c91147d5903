"""Every platform of ``harnesses.HARNESSES`` passes the same ``TrainingServiceTestCase``."""
from __future__ import annotations

from typing import Any

import pytest

from tests.conformance.harnesses import HARNESSES, Harness
from tests.conformance.testcase import TrainingServiceTestCase


@pytest.fixture(params=HARNESSES)
def harness(request: Any, tmp_path: Any, isolated_home: Any) -> Harness:
    return request.param(request, tmp_path, str(isolated_home))


class TestTrainingServices(TrainingServiceTestCase):
    pass
