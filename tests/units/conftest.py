import pytest

from tests.units.helpers import register_unit


@pytest.fixture
def make_unit(app):
    """``make_unit(**overrides)``: a registered unit with its account (password PASSWORD)."""
    return register_unit
