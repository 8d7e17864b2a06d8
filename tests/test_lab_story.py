"""The Autoencoder lab tells what its numbers show (issue 18, part C): the single-image reading is built from the
measured PSNRs and training curves, the page's question is one its table can answer, and the log loss axis reads as
numbers in order."""

from __future__ import annotations

from core.preprocess.variant import Resize, Variant
from tests.apptest import ok, open_app


def test_log_axis_ticks_read_as_numbers_in_order() -> None:
    from components import autoencoder_lab as lab
    from components.charts import log_axis_ticks

    vals, labels = log_axis_ticks(0.004, 0.6)
    assert [float(t) for t in labels] == vals == sorted(vals) and len(set(labels)) == len(labels)
    assert labels == ["0.005", "0.01", "0.02", "0.05", "0.1", "0.2", "0.5"]
    assert log_axis_ticks(0.004, 5.0)[1] == ["0.01", "0.1", "1"]  # many decades: the powers of ten only
    assert 2 <= len(log_axis_ticks(0.0031, 0.0042)[0])  # a narrow range still gets ticks
    fig = lab.curves_figure({"plain": [0.6, 0.1, 0.05, 0.004]}, "loss", "MSE")
    assert fig.layout.yaxis.type == "log"
    assert list(fig.layout.yaxis.ticktext) == labels and list(fig.layout.yaxis.tickvals) == vals


def _single(input_db: float, regimes: dict[str, tuple[float, list[float]]], steps: int = 300):  # noqa: ANN202
    from types import SimpleNamespace

    rs = [SimpleNamespace(name=n, psnr_vs_clean=final, psnr_vs_input=20.0,
                          track=[{"step": (i + 1) * steps // len(tr), "psnr_vs_clean": v} for i, v in enumerate(tr)])
          for n, (final, tr) in regimes.items()]
    return SimpleNamespace(regimes=rs, input_psnr_vs_clean=lambda: input_db, config=SimpleNamespace(steps=steps))


def test_single_image_reading_says_what_the_numbers_show() -> None:
    from components.autoencoder_lab import single_reading

    table = _single(20.08, {"plain": (31.74, [25.0, 31.0, 31.74]), "augmented": (22.28, [21.0, 22.28]),
                            "blindspot": (28.34, [26.0, 28.34])})
    text = " ".join(single_reading(table))
    assert text.startswith("Every regime denoises this image: against the clean image the noisy input scores 20.1 dB")
    assert "plain 31.7 dB (+11.7)" in text and "not denoise" not in text
    assert "Within 300 steps none has started to learn the noise" in text
    long = _single(20.08, {"plain": (24.2, [31.3, 28.0, 24.2]), "blindspot": (19.0, [25.0, 19.0])}, steps=6000)
    text = " ".join(single_reading(long))
    assert "plain 24.2 dB (+4.1) denoises it, while blindspot (19.0 dB) does not" in text
    assert "plain peaked at 31.3 dB at step 2000 and ended at 24.2 dB" in text and "over-fits" in text
    no_clean = _single(None, {"plain": (None, [])})  # type: ignore[arg-type]
    assert "cannot say whether a regime denoises" in single_reading(no_clean)[0]


def test_lab_page_asks_a_question_its_table_can_answer() -> None:
    at = open_app("pages/autoencoder_lab.py", [Variant(name="rgb", resize=Resize(size=32))])
    ok(at)
    caption = " ".join(c.value for c in at.caption)
    assert "not denoise" not in caption and "when does it learn the noise" in caption
