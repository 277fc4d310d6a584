"""Support tickets, queues, business calendars, the SLA clocks and their reports."""
