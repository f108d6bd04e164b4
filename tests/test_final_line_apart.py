"""A search's or recipe's final line says a forecaster's test figure beside its references as
`rnnlab train` does (tester helper-198: "test MASE 1.004 (naive 4.754, seasonal naive 1 on the
same steps)" hid a loss to seasonal naive's 1.00014 and said no verdict); one fold run's kept
model is said in the singular's possessive."""

from __future__ import annotations

from rnnlab.task import FORECASTING
from rnnlab.train.final import baseline_phrase, final_line, length_words


def _final(model, naive, seasonal):
    return {"test": {"mase": model}, "baselines": {"naive": {"mase": naive}, "seasonal_naive": {"mase": seasonal}}}


def test_a_loss_to_seasonal_naive_is_said_and_not_rounded_away():
    line = final_line(_final(1.004, 4.754, 1.00014), FORECASTING.headline)
    assert line == "test MASE 1.004 (naive 4.754, seasonal naive 1.000 on the same steps: no better than seasonal naive)"
    # figures that agree to 4 digits are shown in the digits that tell them apart
    close = final_line(_final(5.50948, 9.0, 5.50889), FORECASTING.headline)
    assert "test MASE 5.5095 (" in close and "seasonal naive 5.5089" in close and "no better" in close


def test_a_model_that_beats_both_has_no_verdict():
    line = final_line(_final(0.8457, 1.12, 0.8479), FORECASTING.headline)
    assert line == "test MASE 0.8457 (naive 1.120, seasonal naive 0.8479 on the same steps)"
    assert baseline_phrase(_final(0.8457, 1.12, 0.8479), FORECASTING.headline) == "naive 1.120, seasonal naive 0.8479"


def test_one_fold_runs_kept_model():
    final = {"length": {"rule": "median of the kept models", "unit": "steps", "lengths": [240], "median": 240,
                        "trained": {"epoch": 12, "step": 240}}}
    assert "the median of its 1 run's kept models" in length_words(final)
