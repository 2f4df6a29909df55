"""Redaction: personal data never survives, ordinary text is untouched, replies come back whole."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from deskpilot.ai.redaction import iban_valid, luhn_valid, redact


def luhn_complete(prefix: str) -> str:
    """Append the check digit that makes `prefix` Luhn-valid."""
    for digit in "0123456789":
        if luhn_valid(prefix + digit):
            return prefix + digit
    raise AssertionError("unreachable")


def iban_for(country: str, bban: str) -> str:
    check = 98 - int("".join(str(int(c, 36)) for c in bban + country + "00")) % 97
    return f"{country}{check:02d}{bban}"


def test_each_kind_is_replaced_by_a_stable_placeholder_and_restored() -> None:
    text = (
        "I'm jane.doe@example.com (also JANE@example.org), card 4111 1111 1111 1111, "
        "IBAN GB82 WEST 1234 5698 7654 32, SSN 123-45-6789, NINO AB 12 34 56 C, "
        "from 192.168.1.20 or 2001:db8::1, phone +1 (415) 555-2671. Again: jane.doe@example.com"
    )
    result = redact(text)
    assert result.text == (
        "I'm [EMAIL_1] (also [EMAIL_2]), card [CARD_1], IBAN [IBAN_1], SSN [NATIONAL_ID_1], "
        "NINO [NATIONAL_ID_2], from [IP_1] or [IP_2], phone [PHONE_1]. Again: [EMAIL_1]"
    )
    assert result.restore(result.text) == text
    assert result.restore("Write to [EMAIL_1], not [EMAIL_9]") == (
        "Write to jane.doe@example.com, not [EMAIL_9]"
    )


def test_lookalikes_that_fail_their_checksums_or_shapes_stay() -> None:
    text = (
        "Ticket #4111111111111112, order 2024-01-05, version 1.2.3.4.5, build 10.0.300.1 "
        "is no address, IBAN-like GB00WEST12345698765432, error 0x1f, ref 12345"
    )
    assert redact(text).text == text


@st.composite
def card_numbers(draw: st.DrawFn) -> str:
    length = draw(st.integers(13, 19))
    prefix = draw(st.sampled_from("3456")) + "".join(
        draw(st.lists(st.sampled_from("0123456789"), min_size=length - 2, max_size=length - 2))
    )
    number = luhn_complete(prefix)
    if draw(st.booleans()):
        number = " ".join(number[i : i + 4] for i in range(0, len(number), 4))
    return number


emails = st.builds(
    lambda user, host, tld: f"{user}@{host}.{tld}",
    st.from_regex(r"[a-z][a-z0-9._]{0,15}[a-z0-9]", fullmatch=True),
    st.from_regex(r"[a-z][a-z0-9-]{0,12}[a-z0-9]", fullmatch=True),
    st.sampled_from(["com", "org", "io", "co.uk", "de"]),
)
ipv4 = st.ip_addresses(v=4).map(str)
ibans = st.builds(
    iban_for,
    st.sampled_from(["GB", "DE", "FR", "NL", "ES"]),
    st.from_regex(r"[A-Z0-9]{12,26}", fullmatch=True),
)
filler = st.text(alphabet="abcdefghij klmnop,.!?", max_size=40)
secrets = st.one_of(card_numbers(), emails, ipv4, ibans)


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(filler, secrets), min_size=1, max_size=5), filler)
def test_generated_personal_data_never_survives_and_restores_exactly(
    pieces: list[tuple[str, str]], tail: str
) -> None:
    text = " ".join(f"{before} {secret}" for before, secret in pieces) + " " + tail
    result = redact(text)
    for _, secret in pieces:
        assert secret not in result.text
    assert result.restore(result.text) == text


@settings(max_examples=100, deadline=None)
@given(st.text(alphabet="abcdefghijklmnopqrstuvwxyz ,.!?'", max_size=200))
def test_plain_prose_is_untouched(text: str) -> None:
    assert redact(text).text == text


def test_checksums() -> None:
    assert luhn_valid("4111111111111111")
    assert not luhn_valid("4111111111111112")
    assert iban_valid("GB82WEST12345698765432")
    assert not iban_valid("GB83WEST12345698765432")
    rng = random.Random(3)
    for _ in range(50):
        assert luhn_valid(luhn_complete("".join(rng.choice("0123456789") for _ in range(15))))
