"""Load hub.yaml in two passes and report every problem at once, with file:line and a fix.

Pass one validates the hub-level models; pass two validates each source's connector block with
the model its connector kind declares, so no central union of connector configs is needed and an
installed plug-in is configured exactly like a built-in.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError

from crmhub.config.models import SOURCE_HUB_KEYS, HubConfig, SourceSettings
from crmhub.connectors.base import Connector, ConnectorConfig
from crmhub.connectors.registry import available_kinds, resolve_kind
from crmhub.errors import ConfigError, ConfigProblem, RegistryError

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class SourceDefinition:
    """One configured source: hub-level settings plus its validated connector config."""

    name: str
    settings: SourceSettings
    connector_cls: type[Connector]
    connector_config: ConnectorConfig

    def make_connector(self) -> Connector:
        """A new connector instance for this source."""
        return self.connector_cls(self.connector_config, name=self.name)


@dataclass(frozen=True)
class Hub:
    """A loaded, fully validated hub.yaml."""

    path: Path
    config: HubConfig
    sources: dict[str, SourceDefinition]

    @property
    def base_dir(self) -> Path:
        """Directory of hub.yaml; relative paths in the config are relative to it."""
        return self.path.parent

    @property
    def database_url(self) -> str:
        """The golden-record DB URL; default a SQLite file next to hub.yaml."""
        url = self.config.database.url
        if url is None:
            return f"sqlite:///{self.base_dir / 'crmhub.db'}"
        prefix = "sqlite:///"
        if url.startswith(prefix) and not url.startswith(prefix + "/") and url != prefix:
            return prefix + str(self.base_dir / url[len(prefix) :])
        return url


def load_hub(path: str | Path) -> Hub:
    """Read, validate and return the hub described by `path`.

    Raises:
        ConfigError: with every problem found, each naming file, line, field and fix.
    """
    path = Path(path).resolve()
    text = _read_text(path)
    data, marks = _parse_yaml(text, path)
    context = {"base_dir": str(path.parent)}
    try:
        config = HubConfig.model_validate(data, context=context)
    except ValidationError as exc:
        problems = _problems(exc, (), HubConfig, path, marks)
        problems += _source_problems(data, path, marks, context) if isinstance(data, dict) else []
        raise ConfigError(problems) from None
    sources, problems = _validate_sources(config.sources, path, marks, context)
    if problems:
        raise ConfigError(problems)
    return Hub(path=path, config=config, sources=sources)


def _read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([_problem(path, None, "", "file not found")]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([_problem(path, None, "", f"cannot read: {exc}")]) from None


class HubYamlLoader(yaml.SafeLoader):
    """Safe YAML where only true/false are booleans: `No`, `on` or `Y` stay strings.

    Column names such as `No` (a house number) or `Y` are common in customer files; YAML 1.1
    would silently turn them into booleans (the "Norway problem").
    """


HubYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
HubYamlLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool",
    re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"),
    list("tTfF"),
)


def _parse_yaml(text: str, path: Path) -> tuple[Any, dict[Loc, tuple[int, int]]]:
    """Return the data and the (line, column) of every mapping key and sequence item."""
    try:
        loader = HubYamlLoader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        finally:
            loader.dispose()
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        line = (mark.line + 1, mark.column + 1) if mark else None
        message = f"invalid YAML: {exc.problem}"
        raise ConfigError([_problem(path, line, "", message)]) from None
    marks: dict[Loc, tuple[int, int]] = {}
    if node is not None:
        _collect_marks(node, (), marks)
    if data is None:
        raise ConfigError([_problem(path, None, "", "the file is empty; see `crmhub schema`")])
    if not isinstance(data, dict):
        raise ConfigError([_problem(path, (1, 1), "", "the top level must be a mapping")])
    return data, marks


def _collect_marks(node: yaml.Node, loc: Loc, marks: dict[Loc, tuple[int, int]]) -> None:
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            child = (*loc, key_node.value)
            marks[child] = (key_node.start_mark.line + 1, key_node.start_mark.column + 1)
            _collect_marks(value_node, child, marks)
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            child = (*loc, index)
            marks[child] = (item.start_mark.line + 1, item.start_mark.column + 1)
            _collect_marks(item, child, marks)


def _validate_sources(
    raw_sources: dict[str, dict[str, Any]],
    path: Path,
    marks: dict[Loc, tuple[int, int]],
    context: dict[str, str],
) -> tuple[dict[str, SourceDefinition], list[ConfigProblem]]:
    sources: dict[str, SourceDefinition] = {}
    problems: list[ConfigProblem] = []
    for name, block in raw_sources.items():
        definition, found = _validate_source(name, block, path, marks, context)
        problems += found
        if definition is not None:
            sources[name] = definition
    return sources, problems


def _source_problems(
    data: dict[str, Any], path: Path, marks: dict[Loc, tuple[int, int]], context: dict[str, str]
) -> list[ConfigProblem]:
    """Connector-level problems, so that a broken hub section does not hide them."""
    raw_sources = data.get("sources")
    if not isinstance(raw_sources, dict):
        return []
    blocks = {k: v for k, v in raw_sources.items() if isinstance(v, dict)}
    return _validate_sources(blocks, path, marks, context)[1]


def _validate_source(
    name: str,
    block: dict[str, Any],
    path: Path,
    marks: dict[Loc, tuple[int, int]],
    context: dict[str, str],
) -> tuple[SourceDefinition | None, list[ConfigProblem]]:
    loc: Loc = ("sources", name)
    hub_part = {k: v for k, v in block.items() if k in SOURCE_HUB_KEYS}
    connector_part = {k: v for k, v in block.items() if k not in SOURCE_HUB_KEYS}
    problems: list[ConfigProblem] = []
    connector_cls = _connector_class(block.get("type"), loc, path, marks, problems)
    settings = connector_config = None
    if "mapping" not in hub_part and connector_cls is not None and connector_cls.default_mapping:
        hub_part["mapping"] = {
            canonical: field if isinstance(field, str) else list(field)
            for canonical, field in connector_cls.default_mapping.items()
        }
    try:
        settings = SourceSettings.model_validate(hub_part, context=context)
    except ValidationError as exc:
        problems += _problems(exc, loc, SourceSettings, path, marks)
    if connector_cls is not None:
        model = connector_cls.config_model
        try:
            connector_config = model.model_validate(
                {**connector_part, "type": block["type"]}, context=context
            )
        except ValidationError as exc:
            extra = SOURCE_HUB_KEYS
            problems += _problems(exc, loc, model, path, marks, extra_fields=extra)
    if problems or settings is None or connector_cls is None or connector_config is None:
        return None, problems
    return SourceDefinition(name, settings, connector_cls, connector_config), []


def _connector_class(
    kind: Any,
    loc: Loc,
    path: Path,
    marks: dict[Loc, tuple[int, int]],
    problems: list[ConfigProblem],
) -> type[Connector] | None:
    if not isinstance(kind, str):
        return None  # SourceSettings reports the missing or malformed `type`
    try:
        return resolve_kind(kind)
    except RegistryError as exc:
        kinds = available_kinds()
        hint = _suggest(kind, kinds)
        message = f"{exc}; installed kinds: {', '.join(kinds)}" + (f"; {hint}" if hint else "")
        problems.append(
            _problem(path, _mark(marks, (*loc, "type")), _dotted((*loc, "type")), message)
        )
        return None


def _problems(
    exc: ValidationError,
    prefix: Loc,
    model: type[BaseModel],
    path: Path,
    marks: dict[Loc, tuple[int, int]],
    extra_fields: Iterable[str] = (),
) -> list[ConfigProblem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = (*prefix, *_clean_loc(error["loc"]))
        message = error["msg"]
        if error["type"] == "extra_forbidden":
            allowed = [*_fields_at(model, _clean_loc(error["loc"])[:-1]), *extra_fields]
            hint = _suggest(str(loc[-1]), allowed)
            message = "unknown field" + (f"; {hint}" if hint else f"; allowed: {sorted(allowed)}")
        elif error["type"] == "missing":
            message = "required field is missing"
        elif message.startswith("Value error, "):
            message = message.removeprefix("Value error, ")
        problems.append(_problem(path, _mark(marks, loc), _dotted(loc), message))
    return problems


def _clean_loc(loc: Sequence[Any]) -> Loc:
    """Drop pydantic's union/function labels such as 'function-after[...]' from a location."""
    return tuple(
        p for p in loc if not (isinstance(p, str) and ("[" in p or p.startswith("function")))
    )


def _fields_at(model: type[BaseModel], loc: Loc) -> list[str]:
    """Field names of the model found at `loc` inside `model`, for typo suggestions."""
    current: Any = model
    for part in loc:
        if isinstance(current, type) and issubclass(current, BaseModel):
            field = current.model_fields.get(str(part))
            current = field.annotation if field else None
        elif get_origin(current) in (dict, list):
            current = get_args(current)[-1]
        current = _unwrap_optional(current)
    if isinstance(current, type) and issubclass(current, BaseModel):
        return list(current.model_fields)
    return []


def _unwrap_optional(annotation: Any) -> Any:
    args = [a for a in get_args(annotation) if a is not type(None)]
    if args and get_origin(annotation) not in (dict, list):
        models = [a for a in args if isinstance(a, type) and issubclass(a, BaseModel)]
        return models[0] if models else annotation
    return annotation


def _suggest(word: str, choices: Iterable[str]) -> str:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return f"did you mean '{close[0]}'?" if close else ""


def _mark(marks: dict[Loc, tuple[int, int]], loc: Loc) -> tuple[int, int] | None:
    """Position of `loc`, or of its nearest ancestor present in the file."""
    for end in range(len(loc), 0, -1):
        if loc[:end] in marks:
            return marks[loc[:end]]
    return None


def _dotted(loc: Loc) -> str:
    return ".".join(f"[{p}]" if isinstance(p, int) else str(p) for p in loc).replace(".[", "[")


def _problem(path: Path, mark: tuple[int, int] | None, field: str, message: str) -> ConfigProblem:
    line, column = mark if mark else (None, None)
    return ConfigProblem(_display(path), line, column, field, message)


def _display(path: Path) -> str:
    """The path as the user most likely typed it: relative to the working directory if inside."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
