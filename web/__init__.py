"""The only package that knows HTTP: app factory, controllers, templates, auth."""
