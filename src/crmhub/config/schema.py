"""JSON Schema of hub.yaml for editors, including every installed connector's own block."""

from __future__ import annotations

import copy
from typing import Any

from crmhub.config.models import HubConfig, SourceSettings
from crmhub.connectors.registry import load_registry


def hub_json_schema() -> dict[str, Any]:
    """The schema of hub.yaml; each source is one of the installed kinds, chosen by `type`."""
    schema = HubConfig.model_json_schema()
    defs = schema.setdefault("$defs", {})
    variants = []
    for kind, connector_cls in sorted(load_registry().items()):
        name = f"Source_{kind}"
        defs[name] = _source_variant(kind, connector_cls.config_model.model_json_schema(), defs)
        variants.append({"$ref": f"#/$defs/{name}"})
    schema["properties"]["sources"]["additionalProperties"] = {"oneOf": variants}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "crmhub hub.yaml"
    return schema


def _source_variant(kind: str, connector: dict[str, Any], defs: dict[str, Any]) -> dict[str, Any]:
    hub = SourceSettings.model_json_schema()
    for sub in (hub, connector):
        defs.update(copy.deepcopy(sub.pop("$defs", {})))
    properties = {**connector.get("properties", {}), **hub["properties"]}
    properties["type"] = {
        "const": kind,
        "description": hub["properties"]["type"].get("description"),
    }
    return {
        "type": "object",
        "title": f"{kind} source",
        "properties": properties,
        "required": sorted(set(connector.get("required", [])) | {"type"}),
        "additionalProperties": False,
    }
