"""Import articles from an uploaded file (admins and owners): a `.jsonl` file (one article per
line) or one Markdown file with optional YAML front matter, through `kb.importer`, the same code
as `deskpilot kb import`. Articles are matched by external id, so importing again updates them.
"""

from __future__ import annotations

import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, File, Request, UploadFile
from fastapi.responses import Response

from deskpilot.kb import importer
from deskpilot.kb.admin_views import KbAdminPage
from deskpilot.web.deps import DbSession
from deskpilot.web.page_deps import AdminPage
from deskpilot.web.routing import TransactionalRoute
from deskpilot.web.templating import render

router = APIRouter(route_class=TransactionalRoute)

SUFFIXES = (".jsonl", ".md", ".markdown")
MAX_ERRORS_SHOWN = 50
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


@dataclass(frozen=True)
class ImportResult:
    imported: int
    updated: int
    unchanged: int
    failed: int
    errors: list[tuple[str, str]]
    more_errors: int


@dataclass(kw_only=True)
class ImportPage(KbAdminPage):
    section: str = "import"
    result: ImportResult | None = None
    errors: dict[str, str] = field(default_factory=dict)


@router.get("/admin/kb/import")
def import_form(request: Request, auth: AdminPage) -> Response:
    return render(request, "kb/admin_import.html", ImportPage(title="Import", viewer=auth.viewer))


def _safe_name(filename: str) -> str:
    """The upload's base name, reduced to safe characters: a Markdown file's name becomes its
    external id, so re-importing the same file updates the same article."""
    name = _UNSAFE.sub("-", Path(filename).name).strip(".-") or "upload"
    return name[:150]


@router.post("/admin/kb/import")
def import_upload(
    request: Request,
    session: DbSession,
    auth: AdminPage,
    file: Annotated[UploadFile | None, File()] = None,
) -> Response:
    page = ImportPage(title="Import", viewer=auth.viewer)
    filename = (file.filename or "") if file is not None else ""
    if file is None or not filename:
        page.errors = {"file": "Choose a .jsonl or .md file."}
        return render(request, "kb/admin_import.html", page, status_code=422)
    if not filename.lower().endswith(SUFFIXES):
        page.errors = {"file": "Only .jsonl, .md and .markdown files can be imported."}
        return render(request, "kb/admin_import.html", page, status_code=422)
    with tempfile.TemporaryDirectory(prefix="deskpilot-kb-import-") as folder:
        path = Path(folder) / _safe_name(filename)
        with path.open("wb") as out:
            while chunk := file.file.read(64 * 1024):
                out.write(chunk)
        summary = importer.import_path(session, auth.ctx, path)
    page.result = ImportResult(
        imported=summary.imported,
        updated=summary.updated,
        unchanged=summary.unchanged,
        failed=summary.failed,
        errors=summary.errors[:MAX_ERRORS_SHOWN],
        more_errors=max(0, len(summary.errors) - MAX_ERRORS_SHOWN),
    )
    return render(request, "kb/admin_import.html", page)
