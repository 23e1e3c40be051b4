"""hub.yaml: pydantic models, a loader with file:line errors, and secret references."""
