"""Fixtures of the ROLE tests: the dataset's families and classes, read once per run."""
from __future__ import annotations

import pytest

from conformance.role._support import Dataset


@pytest.fixture(scope="session")
def dataset(run) -> Dataset:
    return Dataset.load(run)
