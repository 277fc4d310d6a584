"""Support tickets, business calendars and the SLA clock (tables come with the support issue)."""
