"""A circuit file's YAML merge key (`<<: *name`) is refused, as docs/circuits.md says of aliases
(issue 32, finding 6: it was accepted, because the duplicate-key check skipped merge keys and with
them the alias they hold)."""

from __future__ import annotations

import pytest

from sculptbench.plugins.tasks.boolean import CircuitSpecError, load_circuit

CIRCUIT = """\
name: t/merge
family: custom
inputs: [x1, x2]
gates:
  g: &gate {op: and, in: [x1, x2]}
  h:
    <<: *gate
outputs:
  y1: g
  y2: h
modules:
  M: {reads: [x1, x2], drives: [y1, y2]}
"""


@pytest.mark.parametrize("text, where", [
    (CIRCUIT, r"gates\.h\.<<: YAML merge key \(line 7\) refused"),
    # Without an alias too: a merge key has no place in the format.
    (CIRCUIT.replace("  g: &gate {op: and, in: [x1, x2]}", "  g: {op: and, in: [x1, x2]}").replace("<<: *gate", "<<: {op: and, in: [x1, x2]}"),
     r"gates\.h\.<<: YAML merge key \(line 7\) refused"),
])
def test_a_merge_key_is_refused_naming_its_place(tmp_path, text, where):
    path = tmp_path / "merge.yaml"
    path.write_text(text)
    with pytest.raises(CircuitSpecError, match=where):
        load_circuit(path)


def test_the_same_circuit_written_out_loads(tmp_path):
    path = tmp_path / "plain.yaml"
    path.write_text(CIRCUIT.replace("&gate ", "").replace("    <<: *gate", "    {op: and, in: [x1, x2]}").replace("  h:\n    {", "  h: {"))
    assert load_circuit(path).name == "t/merge"
