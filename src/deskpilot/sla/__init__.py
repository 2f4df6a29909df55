"""Business hours and SLA policies: targets, clocks that pause and resume, at-risk and breach."""
