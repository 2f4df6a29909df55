"""Deskpilot: an open-source, self-hostable, AI-first help desk."""

__version__ = "0.1.0"
