"""Text from disk shown on a terminal: stripped of the control sequences a terminal would obey."""

from __future__ import annotations

import re

#: Terminal control sequences: ESC-introduced strings (OSC, e.g. OSC 52 which writes the reader's
#: clipboard; DCS, SOS, PM, APC) up to their terminator, CSI and other ESC sequences, their 8-bit
#: C1 forms, and every other C0 or C1 control character but newline and tab.
_CONTROL = re.compile(
    r"(?:\x1b[\]P^_X]|[\x90\x98\x9d\x9e\x9f])[^\x07\x1b\x9c]*(?:\x07|\x9c|\x1b\\)?"
    r"|(?:\x1b\[|\x9b)[\x30-\x3f]*[\x20-\x2f]*[\x40-\x7e]?"
    r"|\x1b[\x20-\x2f]*[\x30-\x7e]?"
    r"|[\x00-\x08\x0b-\x1f\x7f-\x9f]"
)


def terminal_safe(text: str, one_line: bool = False) -> str:
    """``text`` without terminal control sequences (:data:`_CONTROL`): what a database, a task
    file or a plugin wrote is shown, never obeyed, by the reader's terminal. ``one_line`` also
    turns newlines and tabs into spaces (a table cell)."""
    text = _CONTROL.sub("", text)
    return text.replace("\n", " ").replace("\t", " ") if one_line else text
