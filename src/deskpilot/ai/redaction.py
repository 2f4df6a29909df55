"""Personal data out before text leaves the machine; placeholders back in when the reply returns.

Recognised: email addresses, payment card numbers (13-19 digits, Luhn-checked), IBANs (mod-97
checked), US social security numbers, UK national insurance numbers, IPv4 and IPv6 addresses and
phone numbers. Each distinct value gets a stable placeholder such as `[EMAIL_1]`, so the outside
model still sees that two mentions are the same address, and `restore` puts the real values back
into whatever it wrote.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable
from dataclasses import dataclass, field

_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+(?![\w-])")
_CARD = re.compile(r"(?<![\d-])(?:\d[ -]?){12,18}\d(?![\d-])")
_IBAN = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])")
_SSN = re.compile(r"(?<!\d)(?!000|666|9\d\d)\d{3}-(?!00)\d{2}-(?!0000)\d{4}(?!\d)")
_NINO = re.compile(
    r"(?<![A-Za-z0-9])[A-CEGHJ-PR-TW-Z]{2} ?\d{2} ?\d{2} ?\d{2} ?[A-D](?![A-Za-z0-9])"
)
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![:\w])(?:[0-9A-Fa-f]{0,4}:){2,7}[0-9A-Fa-f]{0,4}(?![:\w])")
# Dots are left out of the general shape (versions and IPs use them); "415.555.2671" is its own.
_PHONE = re.compile(r"(?<![\w+.])(?:\+?\d[\d ()-]{6,}\d|\d{3}\.\d{3}\.\d{4})(?!\w|\.\d)")
PLACEHOLDER = re.compile(r"\[(EMAIL|CARD|IBAN|NATIONAL_ID|IP|PHONE)_(\d+)\]")


def luhn_valid(digits: str) -> bool:
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def iban_valid(candidate: str) -> bool:
    compact = candidate.replace(" ", "")
    if not 15 <= len(compact) <= 34:
        return False
    rearranged = compact[4:] + compact[:4]
    number = "".join(str(int(ch, 36)) for ch in rearranged)
    return int(number) % 97 == 1


def _is_card(value: str) -> bool:
    digits = re.sub(r"\D", "", value)
    return 13 <= len(digits) <= 19 and luhn_valid(digits)


def _is_ip(value: str) -> bool:
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


_DATE = re.compile(r"^(?:\d{4}[-/.]\d{1,2}[-/.]\d{1,2}|\d{1,2}[-/.]\d{1,2}[-/.]\d{2,4})$")


def _is_phone(value: str) -> bool:
    """7 to 15 digits (E.164), and not a date written with separators."""
    return 7 <= len(re.sub(r"\D", "", value)) <= 15 and not _DATE.match(value.strip())


# Order matters: the most specific patterns claim their text first.
_RULES: list[tuple[str, re.Pattern[str], Callable[[str], bool]]] = [
    ("EMAIL", _EMAIL, lambda _v: True),
    ("IBAN", _IBAN, iban_valid),
    ("CARD", _CARD, _is_card),
    ("NATIONAL_ID", _SSN, lambda _v: True),
    ("NATIONAL_ID", _NINO, lambda _v: True),
    ("IP", _IPV4, _is_ip),
    ("IP", _IPV6, _is_ip),
    ("PHONE", _PHONE, _is_phone),
]


@dataclass
class Redaction:
    text: str
    values: dict[str, str] = field(default_factory=dict)
    """placeholder -> original value"""

    def restore(self, reply: str) -> str:
        """Put the original values back into text that used the placeholders."""
        return PLACEHOLDER.sub(lambda m: self.values.get(m.group(0), m.group(0)), reply)


def redact(text: str) -> Redaction:
    placeholders: dict[tuple[str, str], str] = {}
    counters: dict[str, int] = {}
    result = Redaction(text)

    def placeholder_for(kind: str, value: str) -> str:
        key = (kind, value)
        if key not in placeholders:
            counters[kind] = counters.get(kind, 0) + 1
            token = f"[{kind}_{counters[kind]}]"
            placeholders[key] = token
            result.values[token] = value
        return placeholders[key]

    redacted = text
    for kind, pattern, valid in _RULES:
        redacted = pattern.sub(
            lambda m, kind=kind, valid=valid: (
                placeholder_for(kind, m.group(0))  # type: ignore[misc]
                if valid(m.group(0))
                else m.group(0)
            ),
            redacted,
        )
    result.text = redacted
    return result
