"""A lean HTTP/1.1 load generator: asyncio streams, keep-alive connections, no HTTP library.

Each connection sends one request at a time. In closed-loop mode (rate 0) a connection sends its
next request as soon as the previous answer arrives, which measures maximum throughput. In
open-loop mode requests are due at a fixed rate and latency is measured from when a request was
due, not from when a connection became free, so a slow server cannot hide its queueing delay
(no coordinated omission).
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

Request = tuple[str, str, bytes, dict[str, str], str]
"""(method, path, body, extra headers, label)"""
RequestFactory = Callable[[], Request]
BACKLOG_GRACE = 5.0
ResponseHook = Callable[[Request, int, bytes], None]


@dataclass
class Sample:
    label: str
    status: int
    latency: float


@dataclass
class PhaseResult:
    name: str
    samples: list[Sample] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    elapsed: float = 0.0
    client_cpu: float = 0.0

    def error(self, kind: str) -> None:
        self.errors[kind] = self.errors.get(kind, 0) + 1


class Connection:
    def __init__(self, host: str, port: int, auth: str) -> None:
        self.host, self.port = host, port
        self.prefix = f"Host: {host}:{port}\r\nAuthorization: Bearer {auth}\r\n"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            with contextlib.suppress(ConnectionError, OSError):
                await self.writer.wait_closed()
        self.reader = self.writer = None

    async def send(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, bytes]:
        if self.writer is None:
            await self.open()
        assert self.reader is not None
        assert self.writer is not None
        head = f"{method} {path} HTTP/1.1\r\n{self.prefix}"
        for name, value in headers.items():
            head += f"{name}: {value}\r\n"
        if body:
            head += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
        self.writer.write(head.encode() + b"\r\n" + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        status = int(raw[9:12])
        length = -1
        chunked = False
        keep_alive = True
        for line in raw.split(b"\r\n")[1:]:
            field_name, _, field_value = line.partition(b":")
            lowered = field_name.strip().lower()
            if lowered == b"content-length":
                length = int(field_value)
            elif lowered == b"transfer-encoding" and b"chunked" in field_value.lower():
                chunked = True
            elif lowered == b"connection" and b"close" in field_value.lower():
                keep_alive = False
        if chunked:
            payload = await self._read_chunked()
        elif length >= 0:
            payload = await self.reader.readexactly(length)
        else:
            payload = await self.reader.read()
            keep_alive = False
        if not keep_alive:
            await self.close()
        return status, payload

    async def _read_chunked(self) -> bytes:
        assert self.reader is not None
        parts: list[bytes] = []
        while True:
            size = int((await self.reader.readuntil(b"\r\n")).split(b";")[0], 16)
            if size == 0:
                await self.reader.readuntil(b"\r\n")
                return b"".join(parts)
            parts.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)


async def run_phase(
    name: str,
    *,
    host: str,
    port: int,
    token: str,
    make_request: RequestFactory,
    expect: int,
    concurrency: int,
    duration: float,
    rate: float = 0.0,
    on_response: ResponseHook | None = None,
    follow: Callable[[Request, bytes], Request | None] | None = None,
) -> PhaseResult:
    """Drive `concurrency` connections for `duration` seconds; optionally at a fixed `rate`.

    `follow` turns a response into the next request of the same chain (e.g. the next page of a
    list), sent on the same connection; each request of a chain is one sample.
    """
    result = PhaseResult(name)
    start = time.perf_counter()
    deadline = start + duration
    due: asyncio.Queue[float] | None = asyncio.Queue() if rate > 0 else None

    async def schedule() -> None:
        assert due is not None
        sent = 0
        while True:
            moment = start + sent / rate
            if moment >= deadline:
                break
            delay = moment - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            due.put_nowait(moment)
            sent += 1
        for _ in range(concurrency):
            due.put_nowait(-1.0)

    async def one(conn: Connection, request: Request, scheduled: float) -> bytes | None:
        method, path, body, headers, label = request
        try:
            status, payload = await conn.send(method, path, body, headers)
        except (ConnectionError, OSError, asyncio.IncompleteReadError, ValueError) as exc:
            result.error(type(exc).__name__)
            await conn.close()
            return None
        result.samples.append(Sample(label, status, time.perf_counter() - scheduled))
        if status != expect:
            result.error(f"HTTP {status}")
        if on_response is not None:
            on_response(request, status, payload)
        return payload if status == expect else None

    async def worker() -> None:
        conn = Connection(host, port, token)
        try:
            while True:
                if due is not None:
                    scheduled = await due.get()
                    if scheduled < 0:
                        return
                    if time.perf_counter() > deadline + BACKLOG_GRACE:
                        result.error("not sent (server fell behind)")
                        continue
                else:
                    scheduled = time.perf_counter()
                    if scheduled >= deadline:
                        return
                request: Request | None = make_request()
                while request is not None:
                    payload = await one(conn, request, scheduled)
                    if payload is None or follow is None or time.perf_counter() >= deadline:
                        break
                    request = follow(request, payload)
                    scheduled = time.perf_counter()
        finally:
            await conn.close()

    cpu0 = time.process_time()
    tasks = [asyncio.create_task(worker()) for _ in range(concurrency)]
    if due is not None:
        tasks.append(asyncio.create_task(schedule()))
    await asyncio.gather(*tasks)
    result.elapsed = time.perf_counter() - start
    result.client_cpu = time.process_time() - cpu0
    return result


def percentile(sorted_values: list[float], q: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return float("nan")
    index = max(0, math.ceil(q / 100 * len(sorted_values)) - 1)
    return sorted_values[index]


def summarize(samples: list[Sample], elapsed: float) -> dict[str, Any]:
    latencies = sorted(s.latency for s in samples)
    ms = [v * 1000 for v in latencies]
    return {
        "requests": len(samples),
        "ops_per_s": len(samples) / elapsed if elapsed else 0.0,
        "p50_ms": percentile(ms, 50),
        "p95_ms": percentile(ms, 95),
        "p99_ms": percentile(ms, 99),
        "max_ms": ms[-1] if ms else float("nan"),
        "mean_ms": sum(ms) / len(ms) if ms else float("nan"),
    }
