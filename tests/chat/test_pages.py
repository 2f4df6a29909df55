"""/widget.js and the /widget-demo page."""

from __future__ import annotations

from fastapi.testclient import TestClient

from deskpilot.db.engine import Database
from deskpilot.workspaces import service as workspaces_service
from tests.factories import Personas


def test_widget_script_is_served_as_javascript(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.status_code == 200
    assert r.headers["content-type"].startswith("text/javascript")
    assert r.headers["cache-control"] == "public, max-age=300"
    assert r.headers["x-content-type-options"] == "nosniff"
    body = r.text
    # Dependency-free, self-contained, accessible, scoped styles.
    assert "attachShadow" in body
    assert "/api/v1/chat" in body
    assert "EventSource" in body
    assert 'role="dialog"' in body
    assert "aria-expanded" in body
    assert '"Escape"' in body
    assert "import " not in body
    assert "require(" not in body


def test_demo_page_embeds_the_widget_for_the_first_workspace(
    client: TestClient, personas: Personas
) -> None:
    r = client.get("/widget-demo")
    assert r.status_code == 200
    assert 'src="http://testserver/widget.js" data-workspace="acme"' in r.text
    assert "Northwind Outfitters" in r.text
    # Standalone: it stands for another site, so none of Deskpilot's own assets.
    assert "app.css" not in r.text
    assert "htmx" not in r.text


def test_demo_page_prefers_the_demo_workspace_and_takes_a_query(
    client: TestClient, db: Database, personas: Personas
) -> None:
    with db.session(write=True) as s:
        workspaces_service.create_workspace(s, slug="demo", name="Acme Cloud Support")
        s.commit()
    assert 'data-workspace="demo"' in client.get("/widget-demo").text
    assert 'data-workspace="globex"' in client.get("/widget-demo?workspace=globex").text


def test_demo_page_without_a_workspace_is_a_404_page(client: TestClient, db: Database) -> None:
    r = client.get("/widget-demo")
    assert r.status_code == 404
    assert "No workspace to chat with" in r.text
    assert "widget.js" not in r.text
    r = client.get("/widget-demo?workspace=missing")
    assert r.status_code == 404
