"""Session login/logout for the web UI, and API token management."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response, status

from deskpilot.auth import service
from deskpilot.auth.schemas import LoginRequest, SessionRead, TokenCreate, TokenIssued, TokenRead
from deskpilot.web.deps import CurrentContext, DbSession, end_browser_session, start_browser_session
from deskpilot.web.params import IdPath
from deskpilot.web.routing import TransactionalRoute
from deskpilot.workspaces import service as workspaces_service

router = APIRouter(prefix="/api/v1", tags=["auth"], route_class=TransactionalRoute)


@router.post("/auth/login", response_model=SessionRead)
def login(
    data: LoginRequest, request: Request, response: Response, session: DbSession
) -> SessionRead:
    ctx = service.authenticate(session, data.workspace, str(data.email), data.password)
    assert ctx.user_id is not None
    payload = start_browser_session(
        request,
        session,
        response,
        user_id=ctx.user_id,
        workspace_id=ctx.workspace_id,
        remember=data.remember,
    )
    return SessionRead(
        user_id=ctx.user_id,
        workspace_id=ctx.workspace_id,
        role=ctx.role.value,
        csrf_token=payload.csrf_token,
    )


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
def logout(request: Request, response: Response, session: DbSession) -> Response:
    end_browser_session(request, session, response)
    response.status_code = status.HTTP_204_NO_CONTENT
    return response


@router.get("/auth/me", response_model=SessionRead)
def me(ctx: CurrentContext, session: DbSession) -> SessionRead:
    workspaces_service.get_workspace(session, ctx)
    assert ctx.user_id is not None
    return SessionRead(user_id=ctx.user_id, workspace_id=ctx.workspace_id, role=ctx.role.value)


@router.get("/tokens", response_model=list[TokenRead])
def list_tokens(session: DbSession, ctx: CurrentContext) -> list[TokenRead]:
    return [TokenRead.model_validate(t) for t in service.list_tokens(session, ctx)]


@router.post("/tokens", status_code=status.HTTP_201_CREATED, response_model=TokenIssued)
def create_token(data: TokenCreate, session: DbSession, ctx: CurrentContext) -> TokenIssued:
    assert ctx.user_id is not None
    issued = service.issue_token(session, ctx, user_id=data.user_id or ctx.user_id, name=data.name)
    return TokenIssued(**TokenRead.model_validate(issued.token).model_dump(), token=issued.secret)


@router.delete("/tokens/{token_id}", response_model=TokenRead)
def revoke_token(token_id: IdPath, session: DbSession, ctx: CurrentContext) -> TokenRead:
    return TokenRead.model_validate(service.revoke_token(session, ctx, token_id))
