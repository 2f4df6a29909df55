"""Organizations and contacts (the people who ask for help)."""
