"""OpenFeature evaluation context -> the context parts of a Switchyard event, read the way the
server reads the context of an OFREP request (``Context::from_openfeature`` in
crates/engine/src/context.rs), so a metric lands on the contexts the server recorded exposures
for. The OFREP provider sends ``{"targetingKey": ..., **attributes}``; this reads the same."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

MAX_NAME_BYTES = 256


def valid_name(name: Any) -> bool:
    """1 to 256 bytes of UTF-8, the server's bound on names and kinds."""
    return isinstance(name, str) and 0 < len(name.encode("utf-8")) <= MAX_NAME_BYTES


def as_ofrep_json(context: Any) -> Any:
    """The context as the OFREP provider sends it: attributes plus ``targetingKey``."""
    if context is None:
        return {}
    if isinstance(context, Mapping):
        return context
    targeting_key = getattr(context, "targeting_key", None)
    attributes = getattr(context, "attributes", None)
    if attributes is None and targeting_key is None:
        return None
    data: dict[str, Any] = {}
    if targeting_key:
        data["targetingKey"] = targeting_key
    data.update(attributes or {})
    return data


def _part(kind: Any, body: Any) -> dict[str, str] | None:
    if not valid_name(kind) or kind in ("kind", "multi"):
        return None
    if not isinstance(body, Mapping) or not isinstance(body.get("key"), str):
        return None
    return {"kind": kind, "key": body["key"]}


def context_parts(context: Any) -> list[dict[str, str]] | None:
    """The ``[{"kind", "key"}]`` parts of an OpenFeature context (an ``EvaluationContext`` or
    its JSON form), or ``None`` when the server would refuse it:

    - no ``kind``: one ``user`` keyed by ``targetingKey`` (absent: an anonymous ``user``, key ``""``);
    - ``kind: "multi"``: every other attribute is a kind whose object has a string ``key``;
    - any other ``kind``: one part of that kind, keyed by the context's ``key``.
    """
    data = as_ofrep_json(context)
    if not isinstance(data, Mapping):
        return None
    if "kind" not in data:
        key = data.get("targetingKey", "")
        return [{"kind": "user", "key": key}] if isinstance(key, str) else None
    kind = data["kind"]
    if kind == "multi":
        parts = []
        for name, body in data.items():
            if name == "kind":
                continue
            part = _part(name, body)
            if part is None:
                return None
            parts.append(part)
        return parts or None
    part = _part(kind, data)
    return [part] if part else None
