"""Analytic tests run in float64; the rest of the suite keeps JAX's float32 default.

The switch is a context manager held around each test (not a global config update at
import), so it cannot leak into other test modules of the same pytest process.
"""

import jax
import pytest


@pytest.fixture(autouse=True)
def x64():
    with jax.enable_x64(True):
        yield
