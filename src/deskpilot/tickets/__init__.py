"""Tickets, their messages, attachments and audit events."""
