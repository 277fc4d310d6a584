"""The agent tree and the people in it: agents and their tree, calling hours, roles, users,
sessions and API tokens, login throttles and the audit log. Money lives in `money`."""
