import pytest

from experience.core.phone import mask_phone, normalize_phone


@pytest.mark.parametrize(
    "raw, expected",
    [
        ("13812341234", "13812341234"),
        ("１３８１２３４１２３４", "13812341234"),  # full-width digits
        ("+86 138 1234 1234", "13812341234"),
        ("86-13812341234", "13812341234"),
        ("138-1234-1234", "13812341234"),
        ("010-82260862", "010-82260862"),
        ("０１０－８２２６０８６２", "010-82260862"),  # full-width digits and dash
        ("01082260862", "010-82260862"),
        ("0571-87654321", "0571-87654321"),
        ("(010)88651740", "010-88651740"),
        ("010-82260862-123", "010-82260862-123"),
        ("010-82260862转123", "010-82260862-123"),
    ],
)
def test_normalizes(raw, expected):
    assert normalize_phone(raw) == expected


@pytest.mark.parametrize("raw", ["", "12345", "23812341234", "1381234123", "abc", "010-123", "138123412345"])
def test_rejects(raw):
    assert normalize_phone(raw) is None


def test_mask():
    assert mask_phone("13812341234") == "138****1234"
    assert mask_phone("010-82260862") == "010****0862"
    assert mask_phone("") == ""
    assert mask_phone("12345") == "*****"
