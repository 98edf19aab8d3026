"""Draw the workshop's pipeline map, once plain and once per lesson with "you are here".

The README shows notebooks/images/pipeline.svg; each lesson's title cell shows pipeline-NN.svg with
its own stages highlighted, so an attendee always sees where the notebook sits in the whole.
Run `python tools/pipeline_svg.py` after changing a stage; tests/test_pipeline_images.py checks the
committed files are what this writes.
"""

from __future__ import annotations

from html import escape
from pathlib import Path

IMAGES = Path(__file__).resolve().parent.parent / "notebooks" / "images"

# (label, second line, x, y): the stages left to right, the two ways to run at the end
STAGES = {
    "trace": ("trace", "TorchScript", 10, 40),
    "package": ("model.tar.gz", "model.pth", 150, 40),
    "s3": ("S3", "input prefix", 290, 40),
    "compile": ("compilation job", "Neo", 430, 40),
    "artifact": ("artifact", "compiled.meta", 570, 40),
    "endpoint": ("endpoint", "InvokeEndpoint", 710, 8),
    "inprocess": ("in-process", "DLR API", 710, 72),
}
EDGES = [("trace", "package"), ("package", "s3"), ("s3", "compile"), ("compile", "artifact"),
         ("artifact", "endpoint"), ("artifact", "inprocess")]
LESSONS = {
    "01": ["trace", "package"],
    "02": ["s3", "compile", "artifact"],
    "03": ["endpoint"],
    "04": ["inprocess"],
    "05": ["endpoint", "inprocess"],
    "06": ["compile", "artifact"],
}
WIDTH, HEIGHT, BOX_W, BOX_H = 840, 130, 120, 50


def box(key: str, here: bool) -> str:
    label, sub, x, y = STAGES[key]
    fill, stroke, weight = ("#ff9900", "#232f3e", 3) if here else ("#f2f3f3", "#879596", 1)
    return (f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="8" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="{weight}"/>'
            f'<text x="{x + BOX_W / 2}" y="{y + 22}" text-anchor="middle" font-size="15" '
            f'font-weight="bold">{escape(label)}</text>'
            f'<text x="{x + BOX_W / 2}" y="{y + 40}" text-anchor="middle" font-size="12">{escape(sub)}</text>')


def edge(start: str, end: str) -> str:
    _, _, x1, y1 = STAGES[start]
    _, _, x2, y2 = STAGES[end]
    return (f'<line x1="{x1 + BOX_W}" y1="{y1 + BOX_H / 2}" x2="{x2 - 4}" y2="{y2 + BOX_H / 2}" '
            'stroke="#232f3e" stroke-width="2" marker-end="url(#arrow)"/>')


def svg(here: list[str], lesson: str | None) -> str:
    """One map; `here` are the stages this lesson works on."""
    title = f"Notebook {lesson}: you are here" if lesson else "The workshop's pipeline"
    caption = (f'<text x="10" y="{HEIGHT - 4}" font-size="13" fill="#232f3e">{escape(title)} (orange)</text>'
               if lesson else "")
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
             f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" role="img">',
             f"<title>{escape(title)}</title>",
             '<defs><marker id="arrow" markerWidth="10" markerHeight="8" refX="9" refY="4" orient="auto">'
             '<path d="M0,0 L10,4 L0,8 z" fill="#232f3e"/></marker></defs>',
             *(edge(a, b) for a, b in EDGES), *(box(key, key in here) for key in STAGES), caption, "</svg>"]
    return "\n".join(part for part in parts if part) + "\n"


def images() -> dict[str, str]:
    """File name -> SVG text, for the README's map and each lesson's."""
    drawn = {"pipeline.svg": svg([], None)}
    drawn.update({f"pipeline-{lesson}.svg": svg(stages, lesson) for lesson, stages in LESSONS.items()})
    return drawn


def main() -> None:
    IMAGES.mkdir(parents=True, exist_ok=True)
    for name, text in images().items():
        (IMAGES / name).write_text(text)
        print(f"wrote {IMAGES / name}")


if __name__ == "__main__":
    main()
