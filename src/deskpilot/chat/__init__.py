"""The chat channel: the embeddable widget, its conversations (tickets with channel chat), hand-off."""
