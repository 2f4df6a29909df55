"""Framework-free building blocks: errors, clock, ids, pagination. Imports nothing internal."""
