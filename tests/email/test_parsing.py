"""The parser on realistic mail: reply styles, HTML, charsets, attachments, machine-sent mail."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from deskpilot.email.parsing import ParsedEmail, parse_message
from deskpilot.email.text import html_to_markdown, strip_quotes_and_signature

FIXTURES = Path(__file__).parent / "fixtures"
LIMIT = 1024


def parse(name: str, limit: int = LIMIT) -> ParsedEmail:
    return parse_message((FIXTURES / name).read_bytes(), max_attachment_bytes=limit)


def test_gmail_reply_keeps_only_the_new_text_and_its_thread_ids() -> None:
    mail = parse("gmail_reply.eml")
    assert mail.body == (
        'Thanks, the reset link worked but now I get "session expired" right after\nlogging in.'
    )
    assert "Please try the reset link" in mail.text
    assert mail.message_id == "<CAHk7pQ3gmail0001@mail.gmail.com>"
    assert mail.thread_ids == ["<ticket-7-1@acme.example>"]
    assert (mail.from_name, mail.from_address) == ("Dave Miller", "dave@customer.example.com")
    assert mail.subject == "Re: [#7] Cannot log in"
    assert mail.automatic is None


def test_gmail_html_quote_is_stripped_too() -> None:
    html = (FIXTURES / "gmail_reply.eml").read_text().split('charset="UTF-8"\n\n')[2]
    text = html_to_markdown(html.split("--0000")[0])
    assert strip_quotes_and_signature(text).startswith("Thanks, the reset link worked")
    assert "Please try" not in strip_quotes_and_signature(text)


def test_apple_mail_reply_drops_sent_from_my_iphone_and_quote() -> None:
    mail = parse("apple_reply.eml")
    assert mail.body == "Still failing after the update — the file is empty."
    assert mail.thread_ids == ["<ticket-12-3@acme.example>", "<ticket-12-1@acme.example>"]


def test_outlook_reply_in_windows_1252_with_header_block() -> None:
    mail = parse("outlook_reply.eml")
    assert mail.from_name == "Jürgen Müller"
    assert mail.body == (
        "Hallo Ann,\n\ndie Rückbuchung von 49,00 € ist noch nicht angekommen.\n\nGrüße\nJürgen"
    )
    assert "storniert" in mail.text


def test_outlook_header_block_without_separator_line() -> None:
    text = (
        "Please check again.\n\nFrom: Acme Support <support@acme.example>\n"
        "Sent: Tuesday, March 4, 2025 4:02 PM\nTo: Dave\nSubject: Re: Login\n\nOld text"
    )
    assert strip_quotes_and_signature(text) == "Please check again."


def test_original_message_block_and_dash_dash_signature() -> None:
    mail = parse("original_message.eml")
    assert mail.body == "We are still getting 429s at about 50 requests per minute."


def test_plain_double_dash_signature() -> None:
    mail = parse("new_request.eml")
    assert mail.body.endswith('"invalid credentials".')
    assert "Dave" not in mail.body.split(".")[-1]


def test_interleaved_quotes_keep_the_answers() -> None:
    text = "> Which browser?\nFirefox 123\n> Which OS?\nLinux"
    assert strip_quotes_and_signature(text) == "Firefox 123\nLinux"


def test_all_quoted_message_falls_back_to_the_whole_text() -> None:
    assert strip_quotes_and_signature("> only a quote") == "> only a quote"


def test_forwarded_mail_keeps_the_forwarded_content() -> None:
    mail = parse("forwarded.eml")
    assert "Invoice INV-2025-0042 for 49.00 EUR is attached." in mail.body
    assert mail.body.startswith("Our finance team got this twice")


def test_html_only_mail_becomes_safe_markdown() -> None:
    mail = parse("html_only.eml")
    assert mail.body == (
        "Hello,\n\nThe **dashboard** shows nothing since this morning. Steps:\n\n"
        "- Log in\n- Open the dashboard (https://app.acme.example/dash)\n\nThanks!\nHeidi"
    )
    for bad in ("alert", "pwned", "color: red", "steal", "onerror", "tracker", "<"):
        assert bad not in mail.text


def test_html_blockquote_becomes_a_markdown_quote() -> None:
    text = html_to_markdown("<p>New</p><blockquote><p>old line</p></blockquote>")
    assert text == "New\n\n> old line"
    assert html_to_markdown('<a href="javascript:alert(1)">x</a>') == "x"


@pytest.mark.parametrize(
    ("name", "subject", "body"),
    [
        ("latin1.eml", "Zahlung für März", "Grüße aus Köln, die Zahlung über 30 € fehlt."),
        ("iso2022jp.eml", "ログインできません", "ログインできません。パスワードを再設定しました。"),
        ("bad_utf8.eml", "Broken bytes", "Price is 10 \ufffd\ufffd units and café is fine."),
        ("unknown_charset.eml", "Odd charset", "plain ascii words"),
    ],
)
def test_charsets(name: str, subject: str, body: str) -> None:
    mail = parse(name)
    assert (mail.subject, mail.body) == (subject, body)


def test_inline_image_is_an_inline_attachment() -> None:
    mail = parse("inline_image.eml")
    assert mail.body == "This is what I see:"
    [image] = mail.attachments
    assert (image.filename, image.content_type, image.inline) == (
        "screenshot.png",
        "image/png",
        True,
    )
    assert image.content_id == "shot1@customer.example.com"
    assert image.content.startswith(b"\x89PNG")


def test_oversize_attachment_is_dropped_with_a_note() -> None:
    mail = parse("big_attachment.eml", limit=1024)
    assert [(a.filename, a.content_type, a.size) for a in mail.attachments] == [
        ("orders.csv", "text/csv", 21)
    ]
    assert mail.dropped == [
        "Attachment contract.pdf (4105 bytes) was not kept: it is over the 1024-byte limit."
    ]
    roomy = parse("big_attachment.eml", limit=10_000)
    assert [a.filename for a in roomy.attachments] == ["contract.pdf", "orders.csv"]
    assert roomy.dropped == []


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("auto_reply.eml", "auto-submitted: auto-replied"),
        ("bounce.eml", "auto-submitted: auto-replied"),
        ("list_mail.eml", "precedence: bulk"),
    ],
)
def test_machine_mail_is_recognised(name: str, reason: str) -> None:
    assert parse(name).automatic == reason


BASE = (
    "From: {sender}\nTo: support@acme.example\nSubject: hi\nMessage-ID: <x@y.example>\n"
    "{extra}\n\nbody\n"
)


@pytest.mark.parametrize(
    ("sender", "extra", "reason"),
    [
        ("a@b.example", "Auto-Submitted: no", None),
        ("a@b.example", "Auto-Submitted: auto-generated", "auto-submitted: auto-generated"),
        ("a@b.example", "Precedence: junk", "precedence: junk"),
        ("a@b.example", "Precedence: list", "precedence: list"),
        ("a@b.example", "X-Autoreply: yes", "x-autoreply header"),
        ("a@b.example", "X-Autorespond: yes", "x-autorespond header"),
        ("a@b.example", "List-Id: <l.b.example>", "mailing list (List-Id)"),
        (
            "a@b.example",
            "List-Unsubscribe: <mailto:u@b.example>",
            "mailing list (List-Unsubscribe)",
        ),
        ("a@b.example", "Return-Path: <>", "bounce (null return path)"),
        ("MAILER-DAEMON@mx.b.example", "X-Foo: 1", "bounce (mailer-daemon@mx.b.example)"),
        ("postmaster@b.example", "X-Foo: 1", "bounce (postmaster@b.example)"),
    ],
)
def test_each_loop_signal(sender: str, extra: str, reason: str | None) -> None:
    raw = BASE.format(sender=sender, extra=extra).encode()
    assert parse_message(raw, max_attachment_bytes=LIMIT).automatic == reason


def test_delivery_report_without_other_signals() -> None:
    raw = (FIXTURES / "bounce.eml").read_bytes()
    raw = raw.replace(b"Auto-Submitted: auto-replied\n", b"").replace(b"Return-Path: <>\n", b"")
    raw = raw.replace(b"MAILER-DAEMON@", b"mail@")
    assert parse_message(raw, max_attachment_bytes=LIMIT).automatic == "delivery report"


def test_missing_message_id_is_derived_from_the_bytes() -> None:
    raw = b"From: a@b.example\nTo: support@acme.example\nSubject: x\n\nhello\n"
    first = parse_message(raw, max_attachment_bytes=LIMIT).message_id
    assert first == parse_message(raw, max_attachment_bytes=LIMIT).message_id
    assert first.endswith("@no-message-id.invalid>")
    assert first != parse_message(raw + b"!", max_attachment_bytes=LIMIT).message_id


def test_mangled_mail_never_breaks_the_parser() -> None:
    """Random corruption of the fixtures (the stdlib's header parsers crash on some): parsing
    still returns text every database can store."""
    rng = random.Random(1)
    fixtures = [p.read_bytes() for p in sorted(FIXTURES.glob("*.eml"))]
    for _ in range(1500):
        raw = bytearray(rng.choice(fixtures))
        for _ in range(rng.randint(1, 30)):
            pos = rng.randrange(len(raw))
            roll = rng.random()
            if roll < 0.4:
                raw[pos] = rng.randrange(256)
            elif roll < 0.7:
                del raw[pos : pos + rng.randint(1, 50)]
            else:
                raw[pos:pos] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 20)))
        mail = parse_message(bytes(raw), max_attachment_bytes=2000)
        text = mail.body + mail.subject + mail.from_name + mail.from_address + mail.message_id
        text += "".join(mail.to_addresses + [a.filename for a in mail.attachments])
        assert "\x00" not in text
        text.encode("utf-8")  # no lone surrogates
    for raw in (b"", b"\x00\xff", b"no headers at all", bytes(range(256)) * 8):
        parse_message(raw, max_attachment_bytes=10)


def test_broken_address_header_falls_back_to_raw_text() -> None:
    raw = b"From: Dave <dave@customer.example.com>\nTo: a:b@\nSubject: x\nMessage-ID: <q@x>\n\nhi\n"
    mail = parse_message(raw, max_attachment_bytes=LIMIT)
    assert mail.from_address == "dave@customer.example.com"
    assert mail.body == "hi"
