"""Declared YAML keys, checked with every problem reported at once, each with its file:line.

Shared by the manifest (book.yaml) and the books' strings files (strings.yaml).
"""
from __future__ import annotations

import datetime as dt
import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from . import confine
from .errors import BuildError


@dataclass(frozen=True)
class Key:
    type: Any          # python type(s) accepted
    required: bool
    doc: str
    default: Any = None



class Checker:
    """Collects problems with a YAML file, each with its line."""

    def __init__(self, path: Path):
        self.path = path
        self.errors: list[BuildError] = []

    def error(self, node: yaml.Node | None, message: str, hint: str | None = None) -> None:
        line = node.start_mark.line + 1 if node is not None else None
        self.errors.append(BuildError(message, self.path, line, hint))

    def mapping(self, node: yaml.Node, keys: dict[str, Key], where: str) -> dict[str, tuple[Any, yaml.Node]]:
        """Check a mapping against its declared keys; return {key: (value, node)}."""
        if not isinstance(node, yaml.MappingNode):
            self.error(node, f"{where} must be a mapping of keys", hint="see the schema in the README")
            return {}
        out: dict[str, tuple[Any, yaml.Node]] = {}
        for knode, vnode in node.value:
            if not isinstance(knode, yaml.ScalarNode):
                self.error(knode, f"a key in {where} must be a plain name", hint="known keys: " + ", ".join(keys))
                continue
            key = knode.value
            if key not in keys:
                near = difflib.get_close_matches(str(key), keys, n=1)
                hint = f"did you mean {near[0]!r}?" if near else "known keys: " + ", ".join(keys)
                self.error(knode, f"unknown key {key!r} in {where}", hint)
                continue
            if key in out:
                self.error(knode, f"key {key!r} given twice in {where}")
                continue
            try:
                value = plain(vnode)
            except ValueProblem as exc:
                self.error(vnode, f"{where}.{key}: {exc}", hint=f"{keys[key].doc}; put text in quotes")
                continue
            spec = keys[key]
            if not isinstance(value, spec.type):
                self.error(vnode, f"{where}.{key} must be {type_name(spec.type)}, not {type_name(type(value))}",
                           hint=spec.doc)
                continue
            out[key] = (value, vnode)
        for key, spec in keys.items():
            if spec.required and key not in out and not any(k.value == key for k, _ in node.value):
                self.error(node, f"{where} is missing the required key {key!r}", hint=spec.doc)
        return out


def type_name(t: Any) -> str:
    names = {str: "a string", list: "a list", dict: "a mapping", int: "a number", float: "a number",
             bool: "true or false", type(None): "null", dt.date: "a date"}
    if isinstance(t, tuple):
        return " or ".join(names.get(x, x.__name__) for x in t)
    return names.get(t, t.__name__)


class ValueProblem(Exception):
    """A YAML value that cannot be read (an impossible date, an unknown !tag)."""


def plain(node: yaml.Node) -> Any:
    if node is None:
        return None
    try:
        return yaml.constructor.SafeConstructor().construct_document(node)
    except yaml.constructor.ConstructorError as exc:
        raise ValueProblem(str(exc.problem or exc)) from None
    except (ValueError, TypeError) as exc:
        raise ValueProblem(f"cannot read the value ({exc})") from None


def compose_yaml(path: Path, what: str, missing_hint: str) -> tuple[yaml.Node, str]:
    """Parse a YAML file of the book into nodes (which keep their lines), bounded and checked by
    confine.py; return them and the text. Errors name the file and line."""
    if not path.exists() and not path.is_symlink():
        raise BuildError(f"no {what} found", path, hint=missing_hint)
    text = confine.read_text(path, path, what, confine.MAX_DATA_BYTES)
    node = confine.compose_yaml(text, path, what="YAML")
    if node is None:
        raise BuildError(f"the {what} is empty", path, hint="see the schema in the README")
    return node, text
