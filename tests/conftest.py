"""Shared pytest configuration: make tests/ importable (reference.py, helpers.py) and set the
hypothesis profile (300 examples per property test unless CNNPY_HYPOTHESIS_EXAMPLES says
otherwise; derandomized so a run is repeatable, with no example database written)."""
import os
import sys

from hypothesis import HealthCheck, settings

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

settings.register_profile(
    "cnnpy",
    max_examples=int(os.environ.get("CNNPY_HYPOTHESIS_EXAMPLES", "300")),
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.load_profile("cnnpy")
