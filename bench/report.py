"""Turn phase results into the report: rows per phase, the printed table, target verdicts."""

from __future__ import annotations

import os
from typing import Any

import loadgen

TARGETS = {"creates_ops_per_s": 500.0, "creates_p95_ms": 50.0, "lists_p95_ms": 100.0}


def phase_report(result: loadgen.PhaseResult, server_cpu: float, rate: float) -> dict[str, Any]:
    row = loadgen.summarize(result.samples, result.elapsed)
    row.update(
        phase=result.name,
        mode=f"open loop {rate:g}/s" if rate else "closed loop",
        elapsed_s=result.elapsed,
        errors=sum(result.errors.values()),
        error_kinds=result.errors,
        server_cpu_s=server_cpu,
        server_cpu_ms_per_request=1000 * server_cpu / len(result.samples)
        if result.samples
        else float("nan"),
        server_cpu_pct_of_machine=100 * server_cpu / result.elapsed / (os.cpu_count() or 1),
        client_cpu_s=result.client_cpu,
        client_cpu_pct_of_machine=100 * result.client_cpu / result.elapsed / (os.cpu_count() or 1),
    )
    if result.name == "lists":
        by_variant: dict[str, list[loadgen.Sample]] = {}
        for sample in result.samples:
            by_variant.setdefault(sample.label.split("|")[0], []).append(sample)
        row["variants"] = {
            name: {
                k: v
                for k, v in loadgen.summarize(samples, result.elapsed).items()
                if k != "ops_per_s"
            }
            for name, samples in sorted(by_variant.items())
        }
    return row


def print_table(report: dict[str, Any]) -> None:
    env = report["environment"]
    print()
    print(
        f"cpu_count={env['cpu_count']}  database={env['database']}  server_workers={env['server_workers']}  "
        f"concurrency={env['concurrency']}  prefill={env['prefill']}  duration={env['duration_s']:g}s/phase"
    )
    head = f"{'phase':<8} {'mode':<18} {'requests':>8} {'ops/s':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} {'max ms':>8} {'errors':>6} {'srv cpu':>8} {'ms/req':>6} {'db cpu':>7} {'cli cpu':>8} {'other':>6}"
    print(head)
    print("-" * len(head))
    for row in report["phases"]:
        print(
            f"{row['phase']:<8} {row['mode']:<18} {row['requests']:>8} {row['ops_per_s']:>8.1f} "
            f"{row['p50_ms']:>8.1f} {row['p95_ms']:>8.1f} {row['p99_ms']:>8.1f} {row['max_ms']:>8.1f} "
            f"{row['errors']:>6} {row['server_cpu_pct_of_machine']:>7.0f}% {row['server_cpu_ms_per_request']:>6.1f} {row['database_cpu_pct_of_machine']:>6.0f}% {row['client_cpu_pct_of_machine']:>7.0f}% {row['other_cpu_pct_of_machine']:>5.0f}%"
        )
        for name, v in row.get("variants", {}).items():
            print(
                f"  {name:<24} {v['requests']:>16} {'':>8} {v['p50_ms']:>8.1f} {v['p95_ms']:>8.1f} {v['p99_ms']:>8.1f} {v['max_ms']:>8.1f}"
            )
    print(
        "(cpu columns: share of the whole machine, all cores; ms/req = server CPU per request; "
        "db = PostgreSQL backends of this database; other = everything else on the machine)"
    )
    check = report["verification"]
    print(
        f"verification: {check['tickets_in_db']} tickets in db, {check['new_tickets']} new, "
        f"{check['created_201']} x 201, {check['duplicate_numbers']} duplicate numbers, "
        f"{check['missing_ids']} missing / {check['repeated_ids']} repeated ids "
        f"-> {'OK' if check['ok'] else 'FAILED'}"
    )
    for name, verdict in report["targets"].items():
        print(f"target {name:<26} {verdict}")


def judge(report: dict[str, Any]) -> dict[str, str]:
    rows = {r["phase"]: r for r in report["phases"]}
    verdicts: dict[str, str] = {}
    if "creates" in rows:
        c = rows["creates"]
        verdicts["creates >= 500/s"] = (
            f"{'PASS' if c['ops_per_s'] >= TARGETS['creates_ops_per_s'] else 'FAIL'} ({c['ops_per_s']:.0f}/s, {c['mode']})"
        )
        verdicts["creates p95 <= 50 ms"] = (
            f"{'PASS' if c['p95_ms'] <= TARGETS['creates_p95_ms'] else 'FAIL'} ({c['p95_ms']:.1f} ms)"
        )
    if "lists" in rows:
        lp = rows["lists"]["p95_ms"]
        verdicts["list page p95 <= 100 ms"] = (
            f"{'PASS' if lp <= TARGETS['lists_p95_ms'] else 'FAIL'} ({lp:.1f} ms)"
        )
    verdicts["no lost or duplicate tickets"] = "PASS" if report["verification"]["ok"] else "FAIL"
    return verdicts
