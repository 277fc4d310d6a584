"""The only package that knows HTTP: app factory, controllers, templates, auth, the CLI and demo data."""
