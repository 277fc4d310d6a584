"""The agent tree, users and roles, sessions and the audit log."""
