"""Automation rules: event triggers and time-based automations over tickets."""
