"""Reading a circuit file: its one-line errors (``<file>: <key.path>: <why>``) and a YAML loader that
refuses what the format does not allow (duplicate keys, aliases and merge keys, non-plain types)."""

from __future__ import annotations

from typing import Any

import yaml

from sculptbench.api import SculptbenchError


# --------------------------------------------------------------------------- errors
class CircuitSpecError(SculptbenchError):
    """A circuit file is invalid. The message is one line: ``<file>: <key.path>: <why>``."""

    def __init__(self, source: str, key_path: str, reason: str):
        self.source = str(source)
        self.key_path = key_path
        self.reason = " ".join(str(reason).split())
        super().__init__(f"{self.source}: {self.key_path}: {self.reason}")


def _join(*parts: str | int) -> str:
    """Build a key path: strings joined with dots, integers as ``[i]``."""
    out = ""
    for part in parts:
        if isinstance(part, int):
            out += f"[{part}]"
        elif out:
            out += f".{part}"
        else:
            out = str(part)
    return out


# --------------------------------------------------------------------------- YAML loading
_BaseLoader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _UniqueKeyLoader(_BaseLoader):  # type: ignore[misc, valid-type]
    """A safe YAML loader that rejects duplicate keys in mappings, reporting their key path."""

    def load_unique(self, source: str) -> Any:
        """Compose the document, check it for duplicate keys, then construct it."""
        node = self.get_single_node()
        if node is None:
            return None
        self._check_duplicates(node, "", source, set())
        return self.construct_document(node)

    def _check_duplicates(self, node: yaml.Node, path: str, source: str, seen: set[int]) -> None:
        if id(node) in seen:  # a node reached twice is shared through an alias (*name)
            raise CircuitSpecError(
                source, path or "(document)",
                f"YAML alias (line {node.start_mark.line + 1}) refused: aliases can expand a small file without bound; write the value out",
            )
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            lines: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    if key_node.tag == "tag:yaml.org,2002:merge":
                        # A merge key copies another mapping in (through an alias, `<<: *name`): refused like aliases.
                        raise CircuitSpecError(
                            source, _join(path, "<<") if path else "<<",
                            f"YAML merge key (line {key_node.start_mark.line + 1}) refused: merge keys copy mappings through "
                            "aliases, which can expand a small file without bound; write the keys out",
                        )
                    key = key_node.value
                    line = key_node.start_mark.line + 1
                    if key in lines:
                        raise CircuitSpecError(
                            source, _join(path, key) if path else key,
                            f"duplicate key {key!r} (line {line}; first defined on line {lines[key]})",
                        )
                    lines[key] = line
                    child = _join(path, key) if path else key
                else:
                    child = path
                self._check_duplicates(value_node, child, source, seen)
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._check_duplicates(item, _join(path or "(document)", i), source, seen)


def _load_yaml(text: str, source: str) -> Any:
    loader = _UniqueKeyLoader(text)
    try:
        return loader.load_unique(source)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark is not None else "(document)"
        why = exc.problem or exc.context or "invalid YAML"
        raise CircuitSpecError(source, where, f"YAML syntax error: {why}") from None
    except yaml.YAMLError as exc:
        raise CircuitSpecError(source, "(document)", f"YAML syntax error: {exc}") from None
    finally:
        loader.dispose()
