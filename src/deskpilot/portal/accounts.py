"""Customer accounts in the portal: sign-up, email verification and password reset, with their mail.

Links are itsdangerous tokens signed with the app's secret key, one salt per purpose:

- verification: `/help/{slug}/verify?token=...`, carries workspace, user and email address; valid
  for `VERIFY_MAX_AGE`; following it sets `User.email_verified_at` (again is harmless).
- password reset: `/help/{slug}/password-reset/{token}`, carries workspace, user and a fragment
  of the current password hash; valid for `RESET_MAX_AGE`. Setting a new password changes the
  hash, so a used link (and every other link issued before) stops working.

Account mails have no ticket, so they cannot use `email.outbound.queue_email` (which writes to a
ticket's requester). They are recorded as outbound `EmailMessage` rows like every other mail (same
suppression rules: never to the workspace's own addresses, at most the hourly per-recipient limit)
and sent after commit by the one `email.send` job, which asks this module for the body through
the renderer registered with `email.bodies` (the recipient address finds the account). The link
is signed when the mail is built, so a retried mail carries a fresh link. Nothing is sent when the
workspace has no enabled mail settings.
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass
from datetime import timedelta

from itsdangerous import BadSignature, URLSafeTimedSerializer
from sqlalchemy.orm import Session

from deskpilot.auth import service as auth_service
from deskpilot.auth import web_sessions
from deskpilot.auth.models import Membership, User
from deskpilot.core.clock import utcnow
from deskpilot.core.context import Context, Role
from deskpilot.core.errors import Conflict, NotFound, ValidationFailed
from deskpilot.email import bodies, outbound
from deskpilot.email.models import EmailMessage
from deskpilot.email.settings_service import get_mail_settings
from deskpilot.settings import Settings
from deskpilot.workspaces.models import Workspace

VERIFY_SALT = "deskpilot.portal.verify"
RESET_SALT = "deskpilot.portal.password-reset"
VERIFY_MAX_AGE = timedelta(days=7)
RESET_MAX_AGE = timedelta(hours=1)
KIND_VERIFY = "account_verification"
KIND_RESET = "password_reset"
SUBJECTS = {KIND_VERIFY: "Confirm your email address", KIND_RESET: "Reset your password"}


class InvalidLink(ValidationFailed):
    """A verification or reset link that is forged, expired, already used or for someone else."""

    code = "invalid_link"


# --- identities ------------------------------------------------------------------------------


def _system(workspace_id: int) -> Context:
    return Context.system(workspace_id)


def _member_user(session: Session, workspace_id: int, user_id: int) -> tuple[User, Membership]:
    """The user and their active membership in this workspace, or NotFound."""
    membership = auth_service.get_membership(session, _system(workspace_id), user_id)
    user = session.get(User, user_id)
    if user is None or not user.is_active or not membership.is_active:
        raise NotFound(f"User {user_id} not found")
    return user, membership


def is_verified(session: Session, user_id: int) -> bool:
    user = session.get(User, user_id)
    return user is not None and user.email_verified_at is not None


@dataclass(frozen=True)
class SignUpResult:
    user_id: int
    new_identity: bool
    """False when the email already had a Deskpilot identity (in another workspace): that
    identity keeps its own password, so the person signs in with it instead."""


def sign_up(
    session: Session, workspace_id: int, *, name: str, email: str, password: str
) -> SignUpResult:
    """Create a customer account in the workspace (linked to an existing contact with the same
    email) and queue its verification mail. Conflict when the email is already a member."""
    auth_service.validate_password(password)
    system = _system(workspace_id)
    existing = auth_service.get_user_by_email(session, email)
    if existing is not None:
        try:
            auth_service.get_membership(session, system, existing.id)
        except NotFound:
            pass
        else:
            raise Conflict("An account with this email address already exists")
    membership = auth_service.add_member(
        session,
        system,
        email=email,
        role=Role.customer,
        name=name.strip(),
        password=password,
        verified=False,
    )
    user = session.get(User, membership.user_id)
    assert user is not None
    if user.email_verified_at is None:
        queue_account_email(session, workspace_id, user, KIND_VERIFY)
    return SignUpResult(user_id=user.id, new_identity=existing is None)


# --- links -------------------------------------------------------------------------------------


def _serializer(settings: Settings, salt: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(settings.resolved_secret_key, salt=salt)


def _password_fragment(user: User) -> str:
    """Changes whenever the password does: binds a reset link to the password it replaces."""
    return hashlib.sha256((user.password_hash or "").encode()).hexdigest()[:16]


def verification_token(settings: Settings, workspace_id: int, user: User) -> str:
    payload = {"w": workspace_id, "u": user.id, "e": user.email}
    return str(_serializer(settings, VERIFY_SALT).dumps(payload))


def reset_token(settings: Settings, workspace_id: int, user: User) -> str:
    payload = {"w": workspace_id, "u": user.id, "p": _password_fragment(user)}
    return str(_serializer(settings, RESET_SALT).dumps(payload))


def _read(settings: Settings, salt: str, token: str, max_age: timedelta) -> dict[str, object]:
    try:
        payload = _serializer(settings, salt).loads(token, max_age=int(max_age.total_seconds()))
    except BadSignature as exc:  # also SignatureExpired
        raise InvalidLink("This link is invalid or has expired") from exc
    if not isinstance(payload, dict):
        raise InvalidLink("This link is invalid or has expired")
    return payload


def _user_from(session: Session, workspace_id: int, payload: dict[str, object]) -> User:
    user_id = payload.get("u")
    if payload.get("w") != workspace_id or not isinstance(user_id, int):
        raise InvalidLink("This link is invalid or has expired")
    try:
        user, _ = _member_user(session, workspace_id, user_id)
    except NotFound as exc:
        raise InvalidLink("This link is invalid or has expired") from exc
    return user


def verify_email(session: Session, settings: Settings, workspace_id: int, token: str) -> User:
    """Mark the address in the link as verified (idempotent)."""
    payload = _read(settings, VERIFY_SALT, token, VERIFY_MAX_AGE)
    user = _user_from(session, workspace_id, payload)
    if payload.get("e") != user.email:
        raise InvalidLink("This link was sent to another email address")
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
        session.flush()
    return user


def check_reset_token(session: Session, settings: Settings, workspace_id: int, token: str) -> User:
    """The user a reset link is for, if it is still valid and unused."""
    payload = _read(settings, RESET_SALT, token, RESET_MAX_AGE)
    user = _user_from(session, workspace_id, payload)
    if payload.get("p") != _password_fragment(user):
        raise InvalidLink("This link was already used")
    return user


def reset_password(
    session: Session, settings: Settings, workspace_id: int, token: str, password: str
) -> User:
    """Set a new password from a reset link. Following the link proves the address is theirs,
    so the email counts as verified too."""
    user = check_reset_token(session, settings, workspace_id, token)
    auth_service.set_password(user, password)
    web_sessions.end_all_for_user(session, user.id)
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    session.flush()
    auth_service.invalidate_cached_logins(session)
    return user


def request_password_reset(session: Session, workspace_id: int, email: str) -> EmailMessage | None:
    """Queue a reset mail when `email` is an active member of the workspace; otherwise nothing.
    The caller answers the same either way, so the form does not reveal who has an account."""
    user = auth_service.get_user_by_email(session, email)
    if user is None or not user.is_active:
        return None
    try:
        _member_user(session, workspace_id, user.id)
    except NotFound:
        return None
    return queue_account_email(session, workspace_id, user, KIND_RESET)


def resend_verification(session: Session, workspace_id: int, user_id: int) -> EmailMessage | None:
    user, _ = _member_user(session, workspace_id, user_id)
    if user.email_verified_at is not None:
        return None
    return queue_account_email(session, workspace_id, user, KIND_VERIFY)


# --- mail ----------------------------------------------------------------------------------


def queue_account_email(
    session: Session, workspace_id: int, user: User, kind: str
) -> EmailMessage | None:
    """Record the mail and enqueue its sending (after the caller's commit); None when the
    workspace sends no mail."""
    mail = get_mail_settings(session, workspace_id)
    if mail is None or not mail.enabled:
        return None
    return outbound.queue_ticketless_email(
        session, mail, kind=kind, to_address=user.email, subject=SUBJECTS[kind]
    )


@dataclass(frozen=True)
class AccountMail:
    text: str
    html: str


def account_mail_body(
    session: Session, record: EmailMessage, settings: Settings
) -> tuple[str, str] | None:
    """`email.bodies` renderer: (text, HTML) with a freshly signed link for the account the mail
    is addressed to; None once that person is gone from the workspace."""
    user = auth_service.get_user_by_email(session, record.to_addresses[0])
    if user is None:
        return None
    try:
        _member_user(session, record.workspace_id, user.id)
    except NotFound:
        return None
    body = _account_mail(session, settings, record.kind, record.workspace_id, user)
    return None if body is None else (body.text, body.html)


def _account_mail(
    session: Session, settings: Settings, kind: str, workspace_id: int, user: User
) -> AccountMail | None:
    workspace = session.get(Workspace, workspace_id)
    if workspace is None:
        return None
    base = f"{settings.base_url.rstrip('/')}/help/{workspace.slug}"
    greeting = f"Hello {user.name or user.email},"
    if kind == KIND_VERIFY:
        url = f"{base}/verify?token={verification_token(settings, workspace_id, user)}"
        lines = [
            f"please confirm that this is your email address for {workspace.name}'s help center:",
            url,
            "The link is valid for 7 days. If you did not create an account, ignore this email.",
        ]
    elif kind == KIND_RESET:
        url = f"{base}/password-reset/{reset_token(settings, workspace_id, user)}"
        lines = [
            f"someone asked to reset the password of your account at {workspace.name}. "
            "To choose a new password, open:",
            url,
            "The link is valid for 1 hour and works once. If it was not you, ignore this email: "
            "your password stays as it is.",
        ]
    else:
        return None
    text = "\n\n".join([greeting, *lines])
    safe_url = html.escape(url, quote=True)
    body_html = "".join(
        [
            f"<p>{html.escape(greeting)}</p>",
            f"<p>{html.escape(lines[0])}</p>",
            f'<p><a href="{safe_url}">{safe_url}</a></p>',
            f"<p>{html.escape(lines[2])}</p>",
        ]
    )
    return AccountMail(text=text, html=body_html)


for _kind in SUBJECTS:
    bodies.register(_kind, account_mail_body)
