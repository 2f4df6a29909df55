"""Analytics: metric definitions, daily roll-ups, the analytics API and dashboards."""
