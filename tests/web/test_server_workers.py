"""`deskpilot serve --workers 2` for real: a process per worker, each with its own listening
socket on the one port, a dead worker replaced, and a clean stop on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from deskpilot.db.engine import Database
from tests.conftest import IS_POSTGRES, TEST_SECRET

# Processes and sockets, not the database: once is enough, and each start costs ~10 s.
pytestmark = pytest.mark.skipif(IS_POSTGRES, reason="covered by the SQLite run")

SERVE = (sys.executable, "-c", "from deskpilot.cli import main; main()", "serve")
LISTEN = "0A"  # TCP state code in /proc/net/tcp


def _children(pid: int) -> list[int]:
    """Server processes started by `pid` (not multiprocessing's resource tracker)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # The command name may contain spaces; the parent pid is the second field after it.
        if int(stat.rsplit(")", 1)[1].split()[1]) != pid:
            continue
        if b"spawn_main" in (entry / "cmdline").read_bytes():
            found.append(int(entry.name))
    return sorted(found)


def _listening_inodes(port: int) -> set[str]:
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == LISTEN:
                inodes.add(fields[9])
    return inodes


def _socket_inodes(pid: int) -> set[str]:
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            target = os.readlink(fd)
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    return inodes


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_for(predicate: object, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out")


def _healthy(url: str) -> bool:
    try:
        return httpx.get(f"{url}/health", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _server_env(db: Database, tmp_path: Path) -> dict[str, str]:
    """A server process's environment: the test database, its own data directory, no jobs."""
    return {
        **os.environ,
        "DESKPILOT_ENV": "test",
        "DESKPILOT_DATABASE_URL": db.url,
        "DESKPILOT_DATA_DIR": str(tmp_path / "data"),
        "DESKPILOT_SECRET_KEY": TEST_SECRET,
        "DESKPILOT_EMBEDDED_WORKER": "false",
        "DESKPILOT_AI_PIPELINE": "false",
    }


@pytest.fixture
def server(db: Database, tmp_path: Path) -> Iterator[tuple[subprocess.Popen[bytes], int]]:
    port = _free_port()
    env = _server_env(db, tmp_path)
    proc = subprocess.Popen(
        [*SERVE, "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        yield proc, port
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def test_each_worker_listens_on_its_own_socket_and_a_dead_one_is_replaced(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server
    url = f"http://127.0.0.1:{port}"

    def workers_listening() -> bool:
        listening = _listening_inodes(port)
        return len(listening) == 2 and all(
            len(_socket_inodes(child) & listening) == 1 for child in _children(proc.pid)
        )

    _wait_for(lambda: len(_children(proc.pid)) == 2 and workers_listening())
    assert not _socket_inodes(proc.pid) & _listening_inodes(port)  # the parent never accepts
    assert _healthy(url)

    victim = _children(proc.pid)[0]
    os.kill(victim, signal.SIGKILL)
    _wait_for(lambda: victim not in _children(proc.pid) and workers_listening())
    _wait_for(lambda: _healthy(url))

    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=60) == 0
    assert not _listening_inodes(port)


def test_workers_stop_when_their_supervisor_is_killed(
    server: tuple[subprocess.Popen[bytes], int],
) -> None:
    proc, port = server
    _wait_for(lambda: len(_children(proc.pid)) == 2 and _healthy(f"http://127.0.0.1:{port}"))
    proc.kill()
    proc.wait()
    _wait_for(lambda: not _listening_inodes(port))


def test_a_server_process_freezes_its_startup_heap_and_collects_less_often(
    db: Database, tmp_path: Path
) -> None:
    script = (
        "import gc\n"
        "from deskpilot.web import server\n"
        "server.app_factory()\n"
        "print(gc.get_freeze_count() > 10_000, gc.get_threshold() == server.GC_THRESHOLDS)\n"
    )
    env = _server_env(db, tmp_path)
    tuned = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DESKPILOT_GC_TUNING": "true"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert tuned.stdout.split() == ["True", "True"]
    untouched = subprocess.run(
        [sys.executable, "-c", script],
        env={**env, "DESKPILOT_GC_TUNING": "false"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert untouched.stdout.split() == ["False", "False"]
