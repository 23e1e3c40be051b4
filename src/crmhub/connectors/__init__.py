"""Connectors: the plug-ins that read from and write back to each silo."""
