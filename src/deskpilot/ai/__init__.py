"""AI: ports (protocols) and adapters. The rest of Deskpilot depends on the ports only."""
