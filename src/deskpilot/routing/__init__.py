"""Routing: agent availability, capacity and skills; automatic assignment within teams."""
