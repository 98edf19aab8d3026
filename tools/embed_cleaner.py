"""Write helpers/expiry_cleaner.py into infra/attendee-account.yaml's Lambda (Code.ZipFile), verbatim.

    python tools/embed_cleaner.py           # rewrite the template
    python tools/embed_cleaner.py --check   # exit 1 if the template's copy is not the module's

The template keeps the code as a YAML block scalar under `ZipFile: |`; this replaces that block
(every line indented deeper than the `ZipFile:` key) with the module's lines.
tests/test_attendee_template.py runs --check's comparison.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "infra" / "attendee-account.yaml"
MODULE = ROOT / "helpers" / "expiry_cleaner.py"
KEY = re.compile(r"^(?P<indent> *)ZipFile: \|\n", re.MULTILINE)


def _block(text: str) -> tuple[int, int, str]:
    """(start, end, indent) of the ZipFile block's lines in `text`."""
    match = KEY.search(text)
    if match is None:
        raise ValueError(f"{TEMPLATE}: no `ZipFile: |` block")
    indent = match.group("indent") + "  "
    end = match.end()
    for line in text[match.end():].splitlines(keepends=True):
        if line.strip() and not line.startswith(indent):
            break
        end += len(line)
    return match.end(), end, indent


def embedded(text: str) -> str:
    """The code the template's ZipFile holds, de-indented (what Lambda will run)."""
    start, end, indent = _block(text)
    lines = text[start:end].splitlines(keepends=True)
    return "".join(line[len(indent):] if line.strip() else "\n" for line in lines).rstrip("\n") + "\n"


def embed(text: str, code: str) -> str:
    start, end, indent = _block(text)
    block = "".join(f"{indent}{line}" if line.strip() else "\n" for line in code.splitlines(keepends=True))
    return text[:start] + block + text[end:]


def main(argv: list[str]) -> int:
    text, code = TEMPLATE.read_text(), MODULE.read_text()
    if "--check" in argv:
        same = embedded(text) == code
        print("up to date" if same else f"{TEMPLATE.name} embeds an old cleaner: run python tools/embed_cleaner.py")
        return 0 if same else 1
    TEMPLATE.write_text(embed(text, code))
    print(f"{TEMPLATE}: ZipFile = {MODULE.relative_to(ROOT)} ({len(code)} characters)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
