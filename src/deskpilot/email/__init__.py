"""The email channel: inbound (SMTP listener, IMAP, raw HTTP), threading, outbound, notifications."""
