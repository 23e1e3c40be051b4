"""Checks that JSON has the shape of a `hubspot-api-client` model, strictly.

The SDK's deserialiser ignores unknown keys and, by default, missing required ones; this walks
the model's `openapi_types` itself, so a misspelt key, a missing required field or a wrong
scalar type in what the fake answers or the connector sends fails the test. It also holds
the token and connector-factory type that the fixtures and the tests share.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable
from types import ModuleType
from typing import Any

import hubspot.crm.contacts.models as models
from hubspot.crm.contacts import Configuration

from crmhub.connectors.hubspot import HubSpotConnector

_SCALARS: dict[str, tuple[type, ...]] = {
    "str": (str,),
    "int": (int,),
    "float": (int, float),
    "bool": (bool,),
    "object": (object,),
}

TOKEN = "pat-na1-fake-token-0001"
TOKEN_ENV = "CRMHUB_TEST_HUBSPOT_TOKEN"

ConnectorFactory = Callable[..., HubSpotConnector]
"""Builds a connector on the running fake; keyword arguments override config keys."""


def assert_shape(data: Any, type_name: str, module: ModuleType = models, where: str = "$") -> None:
    """Fail with the JSON path of the first difference between `data` and `type_name`.

    `module` holds the SDK models (default: contacts; companies' are the same shapes).
    """
    if type_name.startswith("list["):
        assert isinstance(data, list), f"{where}: expected a list, got {type(data).__name__}"
        for i, item in enumerate(data):
            assert_shape(item, type_name[5:-1], module, f"{where}[{i}]")
        return
    if type_name.startswith("dict["):
        assert isinstance(data, dict), f"{where}: expected an object"
        value_type = re.match(r"dict\[str, (.*)\]$", type_name).group(1)  # type: ignore[union-attr]
        for key, value in data.items():
            if value is not None:
                assert_shape(value, value_type, module, f"{where}.{key}")
        return
    if type_name in ("datetime", "date"):
        assert isinstance(data, str), f"{where}: expected ISO text"
        dt.datetime.fromisoformat(data.replace("Z", "+00:00"))
        return
    if type_name in _SCALARS:
        assert isinstance(data, _SCALARS[type_name]), (
            f"{where}: expected {type_name}, got {type(data).__name__}"
        )
        return
    _assert_model(data, getattr(module, type_name), module, where)


def _assert_model(data: Any, model: type, module: ModuleType, where: str) -> None:
    assert isinstance(data, dict), f"{where}: expected a {model.__name__} object"
    json_to_attr = {v: k for k, v in model.attribute_map.items()}
    unknown = sorted(set(data) - set(json_to_attr))
    assert not unknown, f"{where}: keys {unknown} are not in {model.__name__}"
    for attr, json_name in model.attribute_map.items():
        if data.get(json_name) is None:
            assert not _required(model, attr), f"{where}.{json_name}: required by {model.__name__}"
            continue
        assert_shape(data[json_name], model.openapi_types[attr], module, f"{where}.{json_name}")


def _required(model: type, attr: str) -> bool:
    """The SDK marks a required field by a setter that refuses None under validation."""
    config = Configuration()
    config.client_side_validation = True
    instance = model.__new__(model)
    instance.local_vars_configuration = config
    try:
        setattr(instance, attr, None)
    except ValueError:
        return True
    return False
