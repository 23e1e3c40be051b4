"""Paging styles of REST APIs: how to ask for the next page, and when there is none.

Each style is a config model (chosen by `type`) and a small runtime object. The runtime gets the
request it sent, the response and the page's records, and returns the next request or None.
Stop rules are explicit and conservative: an empty page ends number/offset paging; a total in
the body (`total_pages_path`, `total_path`) decides when it is given, else a short page is the
last (an API that caps the page size below the size asked for would otherwise be cut short
after one page); a missing cursor or link ends token paging; and a next request equal to the
previous one is a contract error (an API that repeats a page would otherwise be read forever).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field

from crmhub.connectors.rest.selector import select_path

log = logging.getLogger(__name__)

Params = dict[str, Any]


@dataclass(frozen=True)
class PageRequest:
    """One page's call: a path (or absolute next-page URL) and its query parameters."""

    path: str
    params: Params = field(default_factory=dict)
    number: int = 1
    """1-based page number within this read (for positions and messages)."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)


class NoPagination(_Model):
    """The endpoint returns everything in one response."""

    type: Literal["none"]


class PageNumberPagination(_Model):
    """`?page=1&per_page=100`, stopping at the total page count, else a short or empty page."""

    type: Literal["page_number"]
    param: str = "page"
    start: int = Field(1, ge=0)
    page_size_param: str | None = "per_page"
    page_size: int | None = Field(None, ge=1)
    total_pages_path: str | None = Field(
        None, description="Dotted path to the number of pages in the body, e.g. meta.pages."
    )


class OffsetPagination(_Model):
    """`?offset=0&limit=100`, stopping at the total record count, else a short or empty page."""

    type: Literal["offset"]
    offset_param: str = "offset"
    limit_param: str = "limit"
    limit: int = Field(100, ge=1)
    start: int = Field(0, ge=0)
    total_path: str | None = Field(
        None, description="Dotted path to the total number of records, e.g. meta.total."
    )


class CursorPagination(_Model):
    """A next-page token in the body (`meta.next_cursor`) sent back as `?cursor=`."""

    type: Literal["cursor"]
    cursor_path: str = Field(description="Dotted path to the token in the body.")
    param: str = "cursor"
    page_size_param: str | None = None
    page_size: int | None = Field(None, ge=1)


class NextUrlPagination(_Model):
    """A full next-page URL in the body (`links.next`), followed as it is."""

    type: Literal["next_url"]
    path: str = Field(description="Dotted path to the next URL in the body, e.g. links.next.")
    page_size_param: str | None = None
    page_size: int | None = Field(None, ge=1)


class LinkHeaderPagination(_Model):
    """An RFC 8288 (formerly 5988) `Link: <...>; rel="next"` header."""

    type: Literal["link_header"]
    rel: str = "next"
    page_size_param: str | None = None
    page_size: int | None = Field(None, ge=1)


PaginationConfig = Annotated[
    NoPagination
    | PageNumberPagination
    | OffsetPagination
    | CursorPagination
    | NextUrlPagination
    | LinkHeaderPagination,
    Field(discriminator="type"),
]
"""Any paging style, chosen by its `type` key."""


class Paginator(ABC):
    """Runtime of one paging style for one read."""

    def first(self, path: str, params: Mapping[str, Any]) -> PageRequest:
        """The first page's request."""
        return PageRequest(path, {**params, **self.first_params()})

    def first_params(self) -> Params:
        """Parameters the style adds to the first request."""
        return {}

    @abstractmethod
    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        """The next page's request, or None when `sent` was the last page."""


class _Single(Paginator):
    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        return None


@dataclass
class _PageNumber(Paginator):
    config: PageNumberPagination
    warned: bool = False

    def first_params(self) -> Params:
        cfg, params = self.config, {self.config.param: self.config.start}
        if cfg.page_size_param and cfg.page_size:
            params[cfg.page_size_param] = cfg.page_size
        return params

    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        cfg = self.config
        page = int(sent.params[cfg.param])
        total = _int_at(body, cfg.total_pages_path) if cfg.total_pages_path else None
        if not records or (total is not None and page - cfg.start + 1 >= total):
            return None
        short = bool(cfg.page_size and len(records) < cfg.page_size)
        if short and total is None:
            return None
        if short and not self.warned:
            self.warned = _warn_short(sent, len(records), cfg.page_size, f"{total} pages")
        return _step(sent, {cfg.param: page + 1})


@dataclass
class _Offset(Paginator):
    config: OffsetPagination
    warned: bool = False

    def first_params(self) -> Params:
        cfg = self.config
        return {cfg.offset_param: cfg.start, cfg.limit_param: cfg.limit}

    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        cfg = self.config
        offset = int(sent.params[cfg.offset_param]) + len(records)
        total = _int_at(body, cfg.total_path) if cfg.total_path else None
        if not records or (total is not None and offset >= total):
            return None
        short = len(records) < cfg.limit
        if short and total is None:
            return None
        if short and not self.warned:
            self.warned = _warn_short(sent, len(records), cfg.limit, f"{total} records")
        return _step(sent, {cfg.offset_param: offset})


@dataclass
class _Cursor(Paginator):
    config: CursorPagination

    def first_params(self) -> Params:
        return _size(self.config.page_size_param, self.config.page_size)

    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        token = select_path(body, self.config.cursor_path, default=None)
        if token in (None, "", False):
            return None
        return _step(sent, {self.config.param: token})


@dataclass
class _NextUrl(Paginator):
    config: NextUrlPagination

    def first_params(self) -> Params:
        return _size(self.config.page_size_param, self.config.page_size)

    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        url = select_path(body, self.config.path, default=None)
        if not url or not isinstance(url, str):
            return None
        return PageRequest(url, {}, sent.number + 1)


@dataclass
class _LinkHeader(Paginator):
    config: LinkHeaderPagination

    def first_params(self) -> Params:
        return _size(self.config.page_size_param, self.config.page_size)

    def next(
        self, sent: PageRequest, response: requests.Response, body: Any, records: Sequence[Any]
    ) -> PageRequest | None:
        link = response.links.get(self.config.rel)
        url = link.get("url") if link else None
        if not url:
            return None
        return PageRequest(url, {}, sent.number + 1)


def make_paginator(config: PaginationConfig) -> Paginator:
    """The runtime paginator for a stream's `pagination` config."""
    if isinstance(config, PageNumberPagination):
        return _PageNumber(config)
    if isinstance(config, OffsetPagination):
        return _Offset(config)
    if isinstance(config, CursorPagination):
        return _Cursor(config)
    if isinstance(config, NextUrlPagination):
        return _NextUrl(config)
    if isinstance(config, LinkHeaderPagination):
        return _LinkHeader(config)
    return _Single()


def page_size_of(config: PaginationConfig) -> int | None:
    """Records a full page holds, when the config says (used by tests and messages)."""
    if isinstance(config, OffsetPagination):
        return config.limit
    return getattr(config, "page_size", None)


def _warn_short(sent: PageRequest, got: int, asked: int | None, total: str) -> bool:
    """Log (once per read) a page shorter than asked for that the body's total says is not
    the last: the API probably caps its page size, and paging goes on by the total."""
    log.warning(
        "GET %s page %d has %d records, fewer than the %s asked for, but the body's total "
        "(%s) says more follow; paging on by the total (the API may cap the page size)",
        urlsplit(sent.path).path,
        sent.number,
        got,
        asked,
        total,
    )
    return True


def _step(sent: PageRequest, changes: Params) -> PageRequest:
    return replace(sent, params={**sent.params, **changes}, number=sent.number + 1)


def _size(param: str | None, size: int | None) -> Params:
    return {param: size} if param and size else {}


def _int_at(body: Any, path: str) -> int | None:
    value = select_path(body, path, default=None)
    try:
        return None if value is None else int(value)
    except (TypeError, ValueError):
        return None
