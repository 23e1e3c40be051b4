"""A crmhub connector for customers kept in a JSON-lines file (one JSON object per line)."""

from crmhub_jsonl.connector import JsonLinesConfig, JsonLinesConnector

__all__ = ["JsonLinesConfig", "JsonLinesConnector"]
