"""GB 32100-2015 credit codes, checked with real published ones (tests/units/helpers.py
says where each was found)."""

import pytest

from experience.core.errors import RuleError
from experience.units.credit_code import ALPHABET, WEIGHTS, check_character, normalize, validate
from tests.units.helpers import REAL_CODES


def _refusal(raw: str) -> RuleError:
    with pytest.raises(RuleError) as refused:
        validate(raw)
    return refused.value


@pytest.mark.parametrize("code", REAL_CODES)
def test_real_codes_are_accepted(code):
    assert validate(code) == code


@pytest.mark.parametrize("code", REAL_CODES)
@pytest.mark.parametrize("position", [8, 12, 16, 17])
def test_one_character_changed_is_refused(code, position):
    # within the subject identifier and the check character, where only the check can tell
    other = ALPHABET[(ALPHABET.index(code[position]) + 7) % len(ALPHABET)]
    changed = code[:position] + other + code[position + 1 :]
    assert _refusal(changed).code == "credit_code_check"


def test_two_neighbours_swapped_are_refused():
    code = "914403001922038216"
    swapped = code[:12] + code[13] + code[12] + code[14:]
    assert swapped != code
    assert _refusal(swapped).code == "credit_code_check"


@pytest.mark.parametrize(
    "typed",
    [
        "91440300ma5h0hlk5u",  # lower case
        " 9144 0300 MA5H 0HLK 5U ",  # spaces, as on some certificates
        "91440300MA5H0HLK5U\n",  # pasted with its line break
        "９１４４０３００ＭＡ５Ｈ０ＨＬＫ５Ｕ",  # full-width, from a Chinese input method
        "91440300MA5H0HLK5U\u3000",  # an ideographic space
    ],
)
def test_typing_variants_are_normalised(typed):
    assert validate(typed) == "91440300MA5H0HLK5U"


@pytest.mark.parametrize("letter, instead", [("O", "0"), ("I", "1"), ("Z", "2"), ("S", "5"), ("V", "U")])
def test_letters_outside_the_alphabet_are_named(letter, instead):
    # 91440300MA5H0HLK5U with its 0 (the 13th character) typed as a letter
    typed = "91440300MA5H" + letter + "HLK5U"
    assert len(typed) == 18
    refused = _refusal(typed)
    assert refused.code == "credit_code_confusable"
    assert letter in str(refused)
    assert instead in str(refused)
    assert _refusal(typed.lower()).code == "credit_code_confusable"


def test_wrong_length_says_how_long_it_was():
    refused = _refusal("91440300MA5H0HLK5")
    assert refused.code == "credit_code_length"
    assert "17" in str(refused)
    assert _refusal("91440300MA5H0HLK5UU").code == "credit_code_length"
    assert _refusal("").code == "credit_code_length"


def test_punctuation_is_refused_by_name():
    refused = _refusal("91440300-MA5H0HLK5")
    assert refused.code == "credit_code_character"
    assert "-" in str(refused)


def _with_check(first17: str) -> str:
    return first17 + check_character(first17)


def test_unknown_registration_authority_is_refused():
    # a right check character, so that only the authority is wrong
    assert _refusal(_with_check("B1440300MA5H0HLK5")).code == "credit_code_authority"


def test_kind_must_belong_to_its_authority():
    assert validate(_with_check("92440300MA5H0HLK5"))  # 9 2: an individual business
    assert _refusal(_with_check("94440300MA5H0HLK5")).code == "credit_code_kind"  # 9 has no kind 4
    assert _refusal(_with_check("Y2440300MA5H0HLK5")).code == "credit_code_kind"  # Y has only 1


def test_area_must_start_with_a_province_or_the_national_level():
    assert _refusal(_with_check("91990300MA5H0HLK5")).code == "credit_code_area"  # no province 99
    assert _refusal(_with_check("91A40300MA5H0HLK5")).code == "credit_code_area"  # not digits
    assert validate(_with_check("91660000MA5H0HLK5"))  # 新疆生产建设兵团
    assert validate("12100000470095016Q")  # registered at national level (100000)


def test_weights_are_those_of_the_standard():
    assert WEIGHTS == (1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28)
    assert len(ALPHABET) == 31
    assert not set("IOZSV") & set(ALPHABET)


def test_a_sum_divisible_by_31_gives_check_character_zero():
    # find a body whose weighted sum is a multiple of 31: 31 - 0 is 31, written 0
    for last in ALPHABET:
        body = "9144030071526726" + last
        total = sum(ALPHABET.index(c) * w for c, w in zip(body, WEIGHTS, strict=True))
        if total % 31 == 0:
            assert check_character(body) == "0"
            assert validate(body + "0")
            return
    pytest.fail("no body found")


def test_an_early_pilot_code_outside_the_standard_is_refused():
    # Xiamen's pilot issued codes before GB 32100 (Hutool's test and bluesky335/IDCheck
    # note this one): its check character does not follow the standard, and we say so.
    assert _refusal("91350211M00013FA1N").code == "credit_code_check"


def test_normalise_only_tidies():
    assert normalize(" 91 44 ma ") == "9144MA"
