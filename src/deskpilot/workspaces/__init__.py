"""Workspaces (tenants) and teams."""
