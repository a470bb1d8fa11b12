"""Jinja2 templates for every text the bridge writes (shipped as bridge.templates)."""
