"""helpers.display.table_text: the one text-table renderer (notebook fallbacks and the benchmark)."""

from __future__ import annotations

from helpers.display import Column, table_text


def test_columns_align_text_left_and_numbers_right():
    text = table_text([{"engine": "eager", "ms": 36.125}, {"engine": "neo-local", "ms": 9.5}])
    assert text.splitlines() == [
        "engine        ms",
        "---------  -----",
        "eager      36.12",
        "neo-local    9.5",
    ]


def test_columns_pick_title_and_format_and_none_is_a_dash():
    rows = [{"speedup": 3.414, "skipped": None}, {"speedup": None, "skipped": "no compiler"}]
    text = table_text(rows, [Column("speedup", "x eager", "{:.2f}x"), Column("skipped")])
    assert text.splitlines()[2:] == ["  3.41x  -", "      -  no compiler"]
    assert table_text([]) == "(no rows)"
