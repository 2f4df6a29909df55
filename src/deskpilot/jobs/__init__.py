"""Durable background jobs: a job row in the main database, dispatched to huey after commit."""
