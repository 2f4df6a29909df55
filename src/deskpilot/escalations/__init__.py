"""Hand-offs from the AI (or an agent) to a human team, with reason, summary and outcome."""
