"""Macros and canned responses with variables and optional field changes."""
