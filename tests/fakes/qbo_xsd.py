"""Check QuickBooks Online JSON entities against Intuit's own XSD, as the real API would.

QBO publishes no OpenAPI; its JSON is the XML schema's element structure with the keys in any
order. So a JSON object is turned into the element tree the XSD describes (children sorted into
the schema's sequence, `value` of a reference type as its text, other keys of a simple-content
type and the entity's `domain`/`status`/`sparse` as attributes) and validated with xmlschema.
An unknown key becomes an unknown element, and a wrong type a wrong text, so a body the vendor
would refuse fails here too.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any
from xml.etree import ElementTree

import xmlschema
from xmlschema.validators import XsdComplexType, XsdElement, XsdType

XSD_DIR = Path(__file__).resolve().parents[1] / "vendor_specs" / "quickbooks-online" / "xsd"
NAMESPACE = "http://schema.intuit.com/finance/v3"


@cache
def schema() -> xmlschema.XMLSchema:
    """The QBO v3 schema (loaded once per process; it takes about a second)."""
    return xmlschema.XMLSchema(str(XSD_DIR / "IntuitRestServiceDef.xsd"))


def violations(entity: str, obj: Any) -> list[str]:
    """Why the XSD refuses `obj` as a QBO `entity` (e.g. "Customer"); empty when it is valid."""
    if not isinstance(obj, dict):
        return [f"{entity}: expected a JSON object, got {type(obj).__name__}"]
    element = schema().elements[entity]
    tree = _element(element.local_name or entity, element.type, obj)
    return [_describe(error) for error in schema().iter_errors(tree)]


def _element(name: str, xsd_type: XsdType, value: Any) -> ElementTree.Element:
    node = ElementTree.Element(f"{{{NAMESPACE}}}{name}")
    if isinstance(value, dict):
        _fill(node, xsd_type, value)
    else:
        node.text = _text(value)
    return node


def _fill(node: ElementTree.Element, xsd_type: XsdType, obj: dict[str, Any]) -> None:
    attributes = set(getattr(xsd_type, "attributes", {}) or {})
    if isinstance(xsd_type, XsdComplexType) and xsd_type.has_simple_content():
        node.text = _text(obj.get("value"))
        for key, item in obj.items():
            if key != "value":
                node.set(key, _text(item))  # unknown keys fail as unknown attributes
        return
    children = _child_elements(xsd_type)
    order = {name: index for index, name in enumerate(children)}
    for key, item in obj.items():
        if key in attributes and key not in children:
            node.set(key, _text(item))
    for key in obj:
        if key not in children and key not in attributes:
            substitute = _substitute(key, children)
            if substitute is not None:
                children[key] = substitute
                order[key] = order[_local(substitute.substitution_group)]
    keys = sorted((k for k in obj if k not in attributes or k in children), key=_rank(order))
    for key in keys:
        child = children.get(key)
        child_type = child.type if child is not None else None
        for item in obj[key] if isinstance(obj[key], list) else [obj[key]]:
            if child_type is None:
                unknown = ElementTree.SubElement(node, f"{{{NAMESPACE}}}{key}")
                unknown.text = _text(item) if not isinstance(item, dict) else None
            else:
                node.append(_element(key, child_type, item))


def _child_elements(xsd_type: XsdType) -> dict[str, XsdElement]:
    content = getattr(xsd_type, "content", None)
    if content is None or not hasattr(content, "iter_elements"):
        return {}
    return {e.local_name: e for e in content.iter_elements() if e.local_name}


def _substitute(key: str, children: dict[str, XsdElement]) -> XsdElement | None:
    """The global element `key` when it may stand in for an abstract child (IntuitObject)."""
    element = schema().elements.get(key)
    head = getattr(element, "substitution_group", None)
    return element if head is not None and _local(head) in children else None


def _local(name: str | None) -> str:
    return (name or "").rsplit("}", 1)[-1]


def _rank(order: dict[str, int]) -> Any:
    return lambda key: (order.get(key, len(order)), key)


def _text(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _describe(error: Any) -> str:
    path = getattr(error, "path", None) or ""
    reason = getattr(error, "reason", None) or str(error).splitlines()[0]
    return f"{path}: {reason}".replace(f"{{{NAMESPACE}}}", "")
