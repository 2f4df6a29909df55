"""Outbound webhooks: signed event deliveries to endpoints admins register."""
