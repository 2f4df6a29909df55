"""Turn raw RFC 822 bytes into what the help desk needs: who, what, threading ids, attachments.

Pure functions over the stdlib `email` package (policy.default); nothing here touches the
database or the disk, so the parser can be tested on fixtures alone.
"""

from __future__ import annotations

import codecs
import hashlib
import re
from dataclasses import dataclass, field
from email import policy
from email.header import decode_header, make_header
from email.message import EmailMessage, Message
from email.parser import BytesParser
from email.utils import getaddresses, parseaddr

from deskpilot.email.text import html_to_markdown, strip_quotes_and_signature

# Lists, bulk mail and auto-responders: answering them risks mail loops.
BULK_PRECEDENCE = frozenset({"bulk", "junk", "list"})
BOUNCE_SENDERS = frozenset({"mailer-daemon", "postmaster"})
# WHATWG decodes these labels as windows-1252: real mail labelled latin-1 often is cp1252.
LATIN1_LABELS = frozenset({"iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii"})
MESSAGE_ID_RE = re.compile(r"<[^<>\s]{1,990}>")
FORWARD_SUBJECT_RE = re.compile(r"^\s*(fwd?|wg|tr)\s*:", re.IGNORECASE)


@dataclass(frozen=True)
class ParsedAttachment:
    filename: str
    content_type: str
    content: bytes
    inline: bool = False
    content_id: str | None = None

    @property
    def size(self) -> int:
        return len(self.content)


@dataclass(frozen=True)
class ParsedEmail:
    message_id: str
    in_reply_to: str | None
    references: list[str]
    from_address: str
    from_name: str
    to_addresses: list[str]
    cc_addresses: list[str]
    delivered_to: list[str]
    subject: str
    text: str
    """The whole body as text (HTML converted to Markdown)."""
    body: str
    """What the sender wrote in this message: quoted replies and signature removed."""
    attachments: list[ParsedAttachment] = field(default_factory=list)
    dropped: list[str] = field(default_factory=list)
    """Notes about attachments that were not kept (too large)."""
    automatic: str | None = None
    """Why this looks machine-sent (auto-reply, bounce, list mail), or None for a person."""

    @property
    def thread_ids(self) -> list[str]:
        """Ids this message answers, the most specific (In-Reply-To, then newest reference) first."""
        ids = [self.in_reply_to] if self.in_reply_to else []
        ids += [ref for ref in reversed(self.references) if ref not in ids]
        return ids


def parse_message(raw: bytes, *, max_attachment_bytes: int) -> ParsedEmail:
    msg = BytesParser(policy=policy.default).parsebytes(raw)
    assert isinstance(msg, EmailMessage)  # policy.default always builds EmailMessage
    from_name, from_address = parseaddr(_header(msg, "From"))
    subject = " ".join(_header(msg, "Subject").split())
    body_part = msg.get_body(preferencelist=("plain", "html"))
    text = _body_text(body_part) if body_part is not None else ""
    attachments, dropped = _attachments(msg, body_part, max_attachment_bytes)
    return ParsedEmail(
        message_id=_message_id(msg, raw),
        in_reply_to=_first_id(_header(msg, "In-Reply-To")),
        references=MESSAGE_ID_RE.findall(_header(msg, "References"))[-50:],
        from_address=from_address.strip().lower(),
        from_name=from_name.strip(),
        to_addresses=_addresses(msg, "To"),
        cc_addresses=_addresses(msg, "Cc"),
        delivered_to=_addresses(msg, "Delivered-To") + _addresses(msg, "X-Original-To"),
        subject=subject,
        text=text,
        # A forward's quoted part is the content the sender wants us to read.
        body=text if FORWARD_SUBJECT_RE.match(subject) else strip_quotes_and_signature(text),
        attachments=attachments,
        dropped=dropped,
        automatic=automatic_reason(msg, from_address),
    )


def automatic_reason(msg: Message, from_address: str) -> str | None:
    """The first loop-protection signal found, as a short reason, or None."""
    auto_submitted = _header(msg, "Auto-Submitted").strip().lower()
    if auto_submitted and auto_submitted != "no":
        return f"auto-submitted: {auto_submitted}"
    if msg.get_content_type() == "multipart/report":
        return "delivery report"
    if _header(msg, "Return-Path").strip() == "<>":
        return "bounce (null return path)"
    if from_address.split("@", 1)[0].lower() in BOUNCE_SENDERS:
        return f"bounce ({from_address.lower()})"
    precedence = _header(msg, "Precedence").strip().lower()
    if precedence in BULK_PRECEDENCE:
        return f"precedence: {precedence}"
    for name in ("X-Autoreply", "X-Autorespond"):
        if msg.get(name) is not None:
            return f"{name.lower()} header"
    for name in ("List-Id", "List-Unsubscribe"):
        if msg.get(name) is not None:
            return f"mailing list ({name})"
    return None


def normalize_message_id(value: str) -> str:
    value = value.strip()
    return value if value.startswith("<") else f"<{value}>"


# --- helpers -------------------------------------------------------------------------------------


def storable(text: str) -> str:
    """Text every database keeps: PostgreSQL refuses NUL, and half surrogate pairs are invalid."""
    text = text.replace("\x00", "")
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _header(msg: Message, name: str) -> str:
    """A header as text; malformed headers come back as best-effort text, never an error."""
    try:
        value = msg.get(name)
    except Exception:  # the stdlib's structured parsers crash on some broken headers
        return next(iter(_raw_headers(msg, name)), "")
    return storable(str(value)) if value is not None else ""


def _raw_headers(msg: Message, name: str) -> list[str]:
    """Every value of a header without the structured parser: RFC 2047 words decoded if they
    can be, the raw text otherwise."""
    values = []
    for key, raw in msg.raw_items():
        if key.lower() != name.lower():
            continue
        try:
            text = str(make_header(decode_header(str(raw))))
        except Exception:  # undecodable encoded words: keep the raw text
            text = str(raw)
        values.append(storable(" ".join(text.split())))
    return values


def _addresses(msg: Message, name: str) -> list[str]:
    try:
        values = [storable(str(v)) for v in (msg.get_all(name) or [])]
    except Exception:  # see _header
        values = _raw_headers(msg, name)
    return [addr.strip().lower() for _, addr in getaddresses(values) if "@" in addr]


def _first_id(value: str) -> str | None:
    found = MESSAGE_ID_RE.findall(value)
    return found[0] if found else None


def _message_id(msg: Message, raw: bytes) -> str:
    """The sender's Message-ID, or one derived from the bytes so a resent copy is still a dupe."""
    found = _first_id(_header(msg, "Message-ID"))
    if found and len(found) <= 990:
        return found
    return f"<{hashlib.sha256(raw).hexdigest()}@no-message-id.invalid>"


def decode_part(part: Message) -> str:
    """Decode a text part by its charset; unknown charsets and bad bytes become U+FFFD."""
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        return ""
    charset = (part.get_content_charset() or "utf-8").lower()
    if charset in LATIN1_LABELS:
        charset = "windows-1252"
    try:
        codecs.lookup(charset)
    except LookupError:
        charset = "utf-8"
    return payload.decode(charset, errors="replace")


def _body_text(part: Message) -> str:
    text = storable(decode_part(part))
    if part.get_content_type() == "text/html":
        text = html_to_markdown(text)
    return text.replace("\r\n", "\n").replace("\r", "\n").strip()


def _is_attachment(part: Message) -> bool:
    disposition = part.get_content_disposition()
    if disposition == "attachment" or part.get_filename():
        return True
    return part.get_content_maintype() not in ("text", "multipart")


def _attachments(
    msg: Message, body_part: Message | None, max_bytes: int
) -> tuple[list[ParsedAttachment], list[str]]:
    kept: list[ParsedAttachment] = []
    dropped: list[str] = []
    for index, part in enumerate(_leaf_parts(msg), start=1):
        if part is body_part or not _is_attachment(part):
            continue
        if part.get_content_type() == "message/rfc822":
            inner = part.get_payload()
            first = inner[0] if isinstance(inner, list) and inner else None
            content = first.as_bytes() if isinstance(first, Message) else b""
            filename = storable(part.get_filename() or f"forwarded-{index}.eml")
        else:
            payload = part.get_payload(decode=True)
            content = payload if isinstance(payload, bytes) else b""
            filename = storable(part.get_filename() or _default_name(part, index))
        if len(content) > max_bytes:
            dropped.append(
                f"Attachment {filename} ({len(content)} bytes) was not kept: "
                f"it is over the {max_bytes}-byte limit."
            )
            continue
        content_id = part.get("Content-ID")
        kept.append(
            ParsedAttachment(
                filename=filename,
                content_type=part.get_content_type(),
                content=content,
                inline=part.get_content_disposition() == "inline" or content_id is not None,
                content_id=str(content_id).strip("<> ") if content_id else None,
            )
        )
    return kept, dropped


def _leaf_parts(msg: Message) -> list[Message]:
    """Every non-multipart part; an attached message stays whole (it is one attachment)."""
    if msg.is_multipart() and msg.get_content_type() != "message/rfc822":
        parts: list[Message] = []
        for sub in msg.get_payload():
            if isinstance(sub, Message):
                parts.extend(_leaf_parts(sub))
        return parts
    return [msg]


def _default_name(part: Message, index: int) -> str:
    subtype = part.get_content_subtype() or "bin"
    return f"part-{index}.{subtype}"
