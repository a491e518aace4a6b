"""Hypothesis budgets of the suite's randomised tests (``test_model.py``, ``test_hostile.py``).

By default each randomised test runs its own small, derandomised budget (the same examples on
every run, no example database), so the suite stays fast and its verdict reproducible. Two
profiles are registered by the plugin's first ``pytest_configure`` — before Hypothesis reads its
``--hypothesis-profile`` option, whichever way pytest was started (``hfconform``, ``--pyargs``,
a path):

* ``hf-ci``   the defaults the tests build their budgets on (no explain phase, one bug reported);
* ``hf-long`` many more examples and steps, randomised: ``hfconform -- --hypothesis-profile
  hf-long -k "model or hostile"`` hunts for long, rare scenarios.

Hypothesis is needed by those tests only; without it nothing is registered.
"""

from __future__ import annotations

PROFILES = ("hf-ci", "hf-long")


def register() -> bool:
    """Register the profiles once (a profile registered already is kept: e.g. the self-test's
    ``hf-ci`` without shrinking); False when Hypothesis is not installed."""
    try:
        from hypothesis import HealthCheck, Phase, settings
        from hypothesis.errors import InvalidArgument
    except ImportError:
        return False
    try:
        for name in PROFILES:
            settings.get_profile(name)
        return True
    except InvalidArgument:
        pass
    quiet = [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much]
    # No "explain" phase: it re-runs a failing scenario hundreds of times, each a booted system.
    phases = (Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink)
    common = {
        "database": None,
        "deadline": None,
        "report_multiple_bugs": False,
        "phases": phases,
        "suppress_health_check": quiet,
    }
    settings.register_profile("hf-ci", derandomize=True, print_blob=False, **common)  # type: ignore[arg-type]
    settings.register_profile(
        "hf-long",
        max_examples=500,
        stateful_step_count=60,
        derandomize=False,
        print_blob=True,
        **common,  # type: ignore[arg-type]
    )
    return True
