"""Run the Deskpilot server as a subprocess and account for CPU time (Linux /proc)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import text

from deskpilot.db.engine import Database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def server_command(workers: int, port: int) -> list[str]:
    """`deskpilot serve` when the CLI has it, else uvicorn over create_app(load_settings())."""
    try:
        from deskpilot import cli

        if "serve" in getattr(cli.main, "commands", {}):
            code = "from deskpilot.cli import main; main()"
            return [sys.executable, "-c", code, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", str(workers)]  # fmt: skip
    except ImportError:
        pass
    return [
        sys.executable, "-m", "uvicorn", "server_app:app_factory", "--factory",
        "--app-dir", str(Path(__file__).resolve().parent), "--host", "127.0.0.1",
        "--port", str(port), "--workers", str(workers), "--no-access-log", "--log-level", "warning",
    ]  # fmt: skip


@contextmanager
def running_server(
    url: str,
    workdir: Path,
    *,
    workers: int = 1,
    port: int = 0,
    extra_env: dict[str, str] | None = None,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """Start the server as its own process group, wait for /ready, stop it on exit."""
    port = port or free_port()
    env = {
        **os.environ,
        "DESKPILOT_DATABASE_URL": url,
        "DESKPILOT_DATA_DIR": str(workdir / "data"),
        "DESKPILOT_SECRET_KEY": "bench-" + "k" * 40,
        "DESKPILOT_LOG_LEVEL": "warning",
        "DESKPILOT_ENV": "prod",
        "DESKPILOT_BASE_URL": f"http://127.0.0.1:{port}",
        **(extra_env or {}),
    }
    env.pop("DESKPILOT_REDIS_URL", None)
    log_path = workdir / "server.log"
    cmd = server_command(workers, port)
    with log_path.open("wb") as log_file:
        proc = subprocess.Popen(
            cmd, env=env, stdout=log_file, stderr=subprocess.STDOUT, start_new_session=True
        )
        try:
            wait_ready(port, proc, log_path)
            yield port, proc
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def wait_ready(
    port: int, proc: subprocess.Popen[bytes], log_path: Path, timeout: float = 60
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(
                f"server exited with {proc.returncode}:\n{log_path.read_text()[-3000:]}"
            )
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"server not ready after {timeout}s:\n{log_path.read_text()[-3000:]}")


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        fields = [int(v) for v in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    except OSError:
        return 0.0, 0.0
    idle = fields[3] + fields[4]  # idle + iowait
    total = sum(fields[:8])  # guest time is already counted in user
    tick = os.sysconf("SC_CLK_TCK")
    return (total - idle) / tick, total / tick


def process_tree(pid: int) -> list[int]:
    pids, stack = [], [pid]
    while stack:
        current = stack.pop()
        pids.append(current)
        for children in Path(f"/proc/{current}/task").glob("*/children"):
            stack.extend(int(c) for c in children.read_text().split())
    return pids


def cpu_times(pids: list[int]) -> dict[int, float]:
    """User + system CPU seconds per live process (Linux /proc)."""
    times = {}
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        times[pid] = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return times


def cpu_delta(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU used between two snapshots by the processes alive in both."""
    return sum(after[pid] - before[pid] for pid in before.keys() & after.keys())


def database_pids(db: Database) -> list[int]:
    """PostgreSQL backends serving the benchmark database (their CPU is the database's share)."""
    if db.is_sqlite:
        return []
    with db.read_engine.connect() as conn:
        rows = conn.execute(
            text(
                "SELECT pid FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()"
            )
        )
        return [int(r[0]) for r in rows]
