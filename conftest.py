"""Root conftest: Hypothesis profiles for the project's own tests.

`HYPOTHESIS_PROFILE=thorough` runs many more examples; the default keeps the suite fast
and prints the seed of any failure so it can be replayed with `--hypothesis-seed`.
"""
import os

from hypothesis import HealthCheck, settings

settings.register_profile(
    "default", max_examples=25, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.register_profile(
    "thorough", max_examples=500, deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
