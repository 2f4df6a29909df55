"""Users, memberships (role per workspace), API tokens, passwords and sessions."""
