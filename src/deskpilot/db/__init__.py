"""Database plumbing: declarative base, engines and sessions, tenant-scoped query helpers."""
