"""Operational observability: Prometheus metrics, structured logs, request ids, optional tracing.

`metrics` is imported by services (it depends on prometheus_client only, never on the web layer);
`middleware` and `routes` are the web side.
"""
