"""A small validator for the Swagger 2.0 subset the Magento definitions use.

Types (object, array, string, integer, number, boolean), ``required``, nested ``$ref`` and
array ``items``. Swagger 2.0 has no ``nullable``, yet Magento emits ``null`` for
required-typed getters (``region.region_code``, ``payment.cc_last4``), so ``None`` is
accepted for declared properties unless ``allow_null=False``. Unknown keys are errors:
that is how a simulator drifting from the real shape gets caught.
"""

from __future__ import annotations

from functools import cache
from typing import Any

import yaml

from tests.connectors.magento.recordings import RECORDED

_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "object": (dict,),
    "array": (list,),
}


@cache
def schema() -> dict[str, Any]:
    """The parsed 1 MB OpenAPI file, parsed once per test session."""
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    with (RECORDED / "admin-schema-2.4.8.yaml").open(encoding="utf-8") as fh:
        return yaml.load(fh, Loader=loader)


def definition(name: str) -> dict[str, Any]:
    return schema()["definitions"][name]


def validate(value: Any, spec: dict[str, Any] | str, *, allow_null: bool = True) -> list[str]:
    """Return a list of problems (empty when ``value`` matches ``spec``)."""
    if isinstance(spec, str):
        spec = {"$ref": f"#/definitions/{spec}"}
    errors: list[str] = []
    _check(value, spec, "$", errors, allow_null)
    return errors


def _check(
    value: Any, spec: dict[str, Any], path: str, errors: list[str], allow_null: bool
) -> None:
    if "$ref" in spec:
        spec = definition(spec["$ref"].rsplit("/", 1)[-1])
    if value is None:
        if not allow_null:
            errors.append(f"{path}: null")
        return
    kind = spec.get("type", "object" if "properties" in spec else None)
    if kind is not None:
        ok = isinstance(value, _TYPES[kind]) and not (
            kind in ("integer", "number") and isinstance(value, bool)
        )
        if not ok:
            errors.append(f"{path}: expected {kind}, got {type(value).__name__}")
            return
    if kind == "array" and "items" in spec:
        for i, item in enumerate(value):
            _check(item, spec["items"], f"{path}[{i}]", errors, allow_null)
    if kind == "object" and isinstance(value, dict):
        props = spec.get("properties", {})
        for name in spec.get("required", []):
            if name not in value:
                errors.append(f"{path}: missing required {name!r}")
        if props:
            for name, item in value.items():
                if name not in props:
                    errors.append(f"{path}: unknown property {name!r}")
                else:
                    _check(item, props[name], f"{path}.{name}", errors, allow_null)
