"""Static files: Deskpilot's own CSS and scripts, plus vendored libraries from the npm install.

Third-party front-end code is never committed: `make install` runs `npm ci` in `frontend/`, and
`/static/vendor/<file>` serves the few files the pages use from there.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI
from fastapi.responses import FileResponse, Response
from fastapi.staticfiles import StaticFiles

from deskpilot.settings import Settings
from deskpilot.web.templating import STATIC_DIR

# Public name -> path inside the npm install.
VENDOR_FILES = {
    "htmx.min.js": "htmx.org/dist/htmx.min.js",
}
CACHE = "public, max-age=86400"


def mount_static(app: FastAPI, settings: Settings) -> None:
    vendor_root = settings.resolved_vendor_dir

    @app.get("/static/vendor/{name}", include_in_schema=False)
    def vendor_file(name: str) -> Response:
        relative = VENDOR_FILES.get(name)
        path = vendor_root / relative if relative else None
        if path is None or not path.is_file():
            # A missing library must not break the page: serve an empty script, say why.
            return Response(
                f"/* {name} is not installed: run `make install` (npm ci in frontend/). */\n",
                media_type="text/javascript",
                headers={"Cache-Control": "no-store"},
            )
        return FileResponse(path, media_type="text/javascript", headers={"Cache-Control": CACHE})

    app.mount("/static", StaticFiles(directory=Path(STATIC_DIR)), name="static")
