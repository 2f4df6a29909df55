"""Who is acting, in which workspace, with which role. Every service call receives one."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from deskpilot.core.errors import PermissionDenied


class Role(StrEnum):
    owner = "owner"
    admin = "admin"
    agent = "agent"
    customer = "customer"


STAFF_ROLES = frozenset({Role.owner, Role.admin, Role.agent})
ADMIN_ROLES = frozenset({Role.owner, Role.admin})


class ActorType(StrEnum):
    user = "user"
    system = "system"
    ai = "ai"


@dataclass(frozen=True, slots=True)
class Context:
    workspace_id: int
    user_id: int | None
    role: Role
    actor_type: ActorType = ActorType.user
    contact_id: int | None = None
    """For customers: the contact record whose tickets they may see."""
    organization_id: int | None = None
    """For customers, when the workspace shares requests within an organization: the contact's
    organization, whose tickets they may see too."""

    @property
    def is_staff(self) -> bool:
        return self.role in STAFF_ROLES

    @property
    def is_admin(self) -> bool:
        return self.role in ADMIN_ROLES

    def require_staff(self) -> None:
        if not self.is_staff:
            raise PermissionDenied("This action is for agents and admins")

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied("This action is for workspace admins")

    @classmethod
    def system(cls, workspace_id: int, actor_type: ActorType = ActorType.system) -> Context:
        """Background jobs and the AI act with admin rights inside one workspace only."""
        return cls(workspace_id=workspace_id, user_id=None, role=Role.admin, actor_type=actor_type)
