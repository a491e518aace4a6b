"""The ``hf_settings`` fixture: the Hypothesis budget of a randomised conformance test.

The profiles themselves (``hf-ci``, ``hf-long``) are registered by :mod:`conformance.profiles`
when the package is imported, so that ``--hypothesis-profile`` can name them.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import settings

from conformance import profiles


@pytest.fixture
def hf_settings(request: pytest.FixtureRequest) -> Callable[..., settings]:
    """``hf_settings(max_examples=..., ...)``: the test's CI budget, or the loaded profile as is.

    Without ``--hypothesis-profile`` the keyword arguments (over ``hf-ci``) are the budget; with
    one (``hf-long``, or any other), the profile decides.
    """
    profiles.register()

    def make(**ci: Any) -> settings:
        if request.config.getoption("hypothesis_profile", None):
            return settings()
        return settings(settings.get_profile("hf-ci"), **ci)

    return make
