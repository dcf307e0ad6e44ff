"""Release control (DESIGN §7): gates, release actions, deploy backends, roles."""
