"""Sample data for trying Deskpilot locally (`deskpilot demo`)."""
