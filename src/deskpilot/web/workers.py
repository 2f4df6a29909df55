"""`deskpilot serve --workers N`: N server processes, each listening on its own socket.

uvicorn's own multi-process mode shares one listening socket, and each process's event loop accepts
every connection waiting on it in one go. Clients that open their keep-alive connections together
(a reverse proxy's upstream pool, an API client's connection pool, the load benchmark) then land on
one process and stay there: measured with 16 connections and 2 processes, 15 went to one of them,
which queued requests while the other core idled. Here every process binds its own socket with
SO_REUSEPORT, and the kernel spreads new connections across them by a hash of the address.

The parent only supervises: it keeps one bound, never-listening socket to hold the port (so
`--port 0` picks one port for all), restarts a process that dies, and on SIGINT/SIGTERM stops them
all, each finishing its requests first (uvicorn's graceful shutdown).
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import signal
import socket
import threading
import time
from multiprocessing.process import BaseProcess
from types import FrameType

import uvicorn

log = logging.getLogger("uvicorn.error")

CHECK_INTERVAL_SECONDS = 0.5
STOP_TIMEOUT_SECONDS = 30.0
# A process that dies sooner than this after starting is failing at startup: stop, don't loop.
MIN_LIFETIME_SECONDS = 5.0


def supported() -> bool:
    return hasattr(socket, "SO_REUSEPORT")


def reuseport_socket(host: str, port: int) -> socket.socket:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
    sock.bind((host, port))
    return sock


def _run_worker(config: uvicorn.Config, port: int) -> None:
    """A child process: its own listening socket on the shared port, then uvicorn as usual."""
    config.configure_logging()
    sock = reuseport_socket(config.host, port)
    server = uvicorn.Server(config)
    threading.Thread(target=_exit_with_parent, args=(server, os.getppid()), daemon=True).start()
    server.run(sockets=[sock])


def _exit_with_parent(server: uvicorn.Server, parent: int) -> None:
    """A supervisor killed outright (SIGKILL, OOM) cannot stop its children: they notice that
    they were re-parented and shut down gracefully rather than serve on unsupervised."""
    while os.getppid() == parent:
        time.sleep(CHECK_INTERVAL_SECONDS)
    server.should_exit = True


class Supervisor:
    def __init__(self, config: uvicorn.Config, workers: int) -> None:
        self.config = config
        self.workers = workers
        self.context = multiprocessing.get_context("spawn")
        self.processes: list[tuple[BaseProcess, float]] = []
        self.stopping = False
        self.failed = False

    def run(self) -> None:
        holder = reuseport_socket(self.config.host, self.config.port)
        port = holder.getsockname()[1]
        previous = {
            sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGINT, signal.SIGTERM)
        }
        try:
            log.info(
                "Deskpilot serving on http://%s:%d with %d processes (Press CTRL+C to quit)",
                self.config.host,
                port,
                self.workers,
            )
            self.processes = [self._start(port) for _ in range(self.workers)]
            while not self.stopping:
                time.sleep(CHECK_INTERVAL_SECONDS)
                self._replace_dead(port)
        finally:
            self._stop_all()
            holder.close()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
        if self.failed:
            raise SystemExit(3)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _start(self, port: int) -> tuple[BaseProcess, float]:
        process = self.context.Process(target=_run_worker, args=(self.config, port), daemon=False)
        process.start()
        return process, time.monotonic()

    def _replace_dead(self, port: int) -> None:
        for index, (process, started) in enumerate(self.processes):
            if process.is_alive() or self.stopping:
                continue
            if time.monotonic() - started < MIN_LIFETIME_SECONDS:
                log.error(
                    "server process %s failed at startup (exit %s)", process.pid, process.exitcode
                )
                self.failed = self.stopping = True
                return
            log.warning(
                "server process %s died (exit %s): starting another", process.pid, process.exitcode
            )
            self.processes[index] = self._start(port)

    def _stop_all(self) -> None:
        for process, _ in self.processes:
            if process.is_alive():
                process.terminate()  # SIGTERM: uvicorn finishes in-flight requests, then exits
        deadline = time.monotonic() + STOP_TIMEOUT_SECONDS
        for process, _ in self.processes:
            process.join(max(0.0, deadline - time.monotonic()))
            if process.is_alive():
                process.kill()
                process.join()
