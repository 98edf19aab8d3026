"""Sentences computed from measured numbers, in the language of the lesson's edition (client side).

Every edition runs the same code cells (tests/test_translations.py), so a sentence a cell computes
from its numbers cannot be translated in the notebook the way markdown is. The cell asks
`lessons.edition_language()` which edition it runs in and passes it here; each reading has one
template per language, filled with the same numbers. Notebook 05's "honest reading" is the first.
"""

from __future__ import annotations

from typing import Any

TEMPLATES: dict[str, dict[str, str]] = {
    "en": {
        "batch_1": "Batch 1: the compiled model answers in {neo:.1f} ms (median) vs {eager:.1f} ms eager: "
                   "{speedup:.1f}x faster, max |Δprob| {dprob:.1e}.",
        "batch_n": "Batch {batch}: {speedup:.1f}x faster ({neo_ips:.0f} vs {eager_ips:.0f} images/s).",
        "endpoint": "Through an endpoint the saving shrinks: {uncompiled:.1f} ms -> {compiled:.1f} ms round trip "
                    "({ratio:.1f}x), because everything but the model still costs {outside_uncompiled:.1f} ms (uncompiled) "
                    "and {outside_compiled:.1f} ms (compiled) per request (section 2's split).",
    },
    "ko": {
        "batch_1": "배치 1: 컴파일된 모델은 {neo:.1f} ms(중앙값)에 답하고 eager는 {eager:.1f} ms입니다. "
                   "{speedup:.1f}배 빠르며, 최대 |Δprob|는 {dprob:.1e}입니다.",
        "batch_n": "배치 {batch}: {speedup:.1f}배 빠릅니다(초당 {neo_ips:.0f}장 대 {eager_ips:.0f}장).",
        "endpoint": "엔드포인트를 거치면 절약이 줄어듭니다. 왕복 시간은 {uncompiled:.1f} ms에서 {compiled:.1f} ms로 "
                    "{ratio:.1f}배 빨라질 뿐입니다. 모델 밖의 모든 것이 요청마다 여전히 {outside_uncompiled:.1f} ms(컴파일 전), "
                    "{outside_compiled:.1f} ms(컴파일 후)가 걸리기 때문입니다(섹션 2의 분해).",
    },
}


def latency_reading(rows: list[dict[str, Any]], batch_sizes: tuple[int, ...], round_trip_ms: dict[str, float],
                    outside_ms: dict[str, float], language: str = "en") -> list[str]:
    """Notebook 05's reading: the compiled model against eager per batch size, then through the endpoints.

    `rows` are the benchmark's rows, `round_trip_ms` each endpoint's median round trip and
    `outside_ms` its round trip minus predict_fn (section 2's split), both keyed "uncompiled"/"compiled".
    """
    say = TEMPLATES.get(language, TEMPLATES["en"])
    by = {(r["engine"], r["batch"], r["precision"]): r for r in rows if r["median_ms"] is not None}
    lines = []
    neo_1, eager_1 = by.get(("neo-local", 1, "fp32")), by[("eager", 1, "fp32")]
    if neo_1:
        lines.append(say["batch_1"].format(neo=neo_1["median_ms"], eager=eager_1["median_ms"],
                                           speedup=neo_1["speedup_vs_eager"], dprob=neo_1["max_abs_dprob"]))
    for batch in batch_sizes[1:]:
        neo_b, eager_b = by.get(("neo-local", batch, "fp32")), by.get(("eager", batch, "fp32"))
        if neo_b and eager_b:
            lines.append(say["batch_n"].format(batch=batch, speedup=neo_b["speedup_vs_eager"],
                                               neo_ips=neo_b["throughput_ips"], eager_ips=eager_b["throughput_ips"]))
    lines.append(say["endpoint"].format(uncompiled=round_trip_ms["uncompiled"], compiled=round_trip_ms["compiled"],
                                        ratio=round_trip_ms["uncompiled"] / round_trip_ms["compiled"],
                                        outside_uncompiled=outside_ms["uncompiled"], outside_compiled=outside_ms["compiled"]))
    return lines
