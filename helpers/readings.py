"""Sentences computed from measured numbers, in the language of the lesson's edition (client side).

Every edition runs the same code cells (tests/test_translations.py), so a sentence a cell computes
from its numbers cannot be translated in the notebook the way markdown is. The cell asks
`lessons.edition_language()` which edition it runs in and passes it here; each reading has one
template per language, filled with the same numbers: notebook 05's endpoint split and its "honest reading".
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
        "split": "{label}: 왕복 {round_trip:.1f} ms = ModelLatency {model_latency:.1f} ms + OverheadLatency "
                 "{overhead:.2f} ms + 클라이언트와 네트워크 {client:.1f} ms입니다. ModelLatency 안에서는 "
                 "전처리(input_fn) {pre:.1f} ms, 모델(predict_fn) {model:.1f} ms, "
                 "응답(output_fn) {post:.2f} ms, 모델 서버의 요청 처리 {server:.1f} ms입니다.",
        "outside": "모델 밖의 모든 것이 요청마다 컴파일 전 엔드포인트에서 {outside_uncompiled:.1f} ms, "
                   "컴파일 후 엔드포인트에서 {outside_compiled:.1f} ms 걸립니다. 컴파일이 바꾸는 것은 predict_fn입니다. "
                   "왕복에서 줄어든 {saved:.1f} ms 중 {model_saved:.1f} ms가 predict_fn에서 줄었습니다.",
        "in_process": "{label} 모델은 엔드포인트의 predict_fn에서 {endpoint:.1f} ms, 이 노트북의 프로세스에서 "
                      "{here:.1f} ms({engine}, 중앙값)가 걸립니다. 이 차이는 모델의 것입니다. "
                      "다른 프로세스에서 다른 시각에 잰 값이며, 엔드포인트의 오버헤드가 아닙니다.",
        "uncompiled": "컴파일 전",
        "compiled": "컴파일 후",
    },
}
TEMPLATES["en"] |= {
    "split": "{label}: {round_trip:.1f} ms round trip = ModelLatency {model_latency:.1f} ms + OverheadLatency "
             "{overhead:.2f} ms + client and network {client:.1f} ms. Inside ModelLatency: preprocessing (input_fn) "
             "{pre:.1f} ms, the model (predict_fn) {model:.1f} ms, the answer (output_fn) {post:.2f} ms, "
             "the model server's request handling {server:.1f} ms.",
    "outside": "Everything but the model costs {outside_uncompiled:.1f} ms per request on the uncompiled endpoint and "
               "{outside_compiled:.1f} ms on the compiled one: compiling changes predict_fn, which saved {model_saved:.1f} ms "
               "of the {saved:.1f} ms the round trip lost.",
    "in_process": "The {label} model takes {endpoint:.1f} ms in the endpoint's predict_fn against {here:.1f} ms "
                  "({engine}, median) in this notebook's process: a difference here is the model's, measured in another "
                  "process at another time, not the endpoint's overhead.",
    "uncompiled": "uncompiled",
    "compiled": "compiled",
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


def split_reading(splits: dict[str, dict[str, float]], in_process_ms: dict[tuple[str, str], float],
                  language: str = "en") -> list[str]:
    """Notebook 05's reading of the endpoint split: each endpoint's parts, what lies outside the model,
    and each endpoint's predict_fn against the same model timed in the notebook's process.

    `splits` are `latency_split.split`'s parts per endpoint ("uncompiled", "compiled"), `in_process_ms`
    the benchmark's batch-1 medians keyed (engine, precision).
    """
    say = TEMPLATES.get(language, TEMPLATES["en"])
    lines = [say["split"].format(
        label=say.get(label, label), round_trip=parts["round trip"], model_latency=parts["ModelLatency"],
        overhead=parts["OverheadLatency"], client=parts["client and network"], pre=parts["preprocessing (input_fn)"],
        model=parts["model (predict_fn)"], post=parts["answer (output_fn)"],
        server=parts["model server (rest of ModelLatency)"]) for label, parts in splits.items()]
    outside = {label: parts["round trip"] - parts["model (predict_fn)"] for label, parts in splits.items()}
    lines.append(say["outside"].format(
        outside_uncompiled=outside["uncompiled"], outside_compiled=outside["compiled"],
        saved=splits["uncompiled"]["round trip"] - splits["compiled"]["round trip"],
        model_saved=splits["uncompiled"]["model (predict_fn)"] - splits["compiled"]["model (predict_fn)"]))
    for label, engine in (("uncompiled", "torchscript"), ("compiled", "neo-local")):
        if (engine, "fp32") in in_process_ms:
            lines.append(say["in_process"].format(label=say[label], endpoint=splits[label]["model (predict_fn)"],
                                                  here=in_process_ms[engine, "fp32"], engine=engine))
    return lines
