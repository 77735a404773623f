"""The RESULTS.md table of accuracy records."""

from __future__ import annotations

from benchmarks.accuracy_table import table


def test_a_scenario_is_one_row_with_missed_goals_in_bold() -> None:
    records = [
        {"name": "accuracy_stroke_cued_clear_mirror_sensitivity", "value": 0.9, "meets": False},
        {"name": "accuracy_stroke_cued_lag_bias_ms_fast", "value": 4.26, "meets": True},
        {"name": "accuracy_stroke_cued_lag_iqr_ms_fast", "value": 29.3, "meets": True},
        {"name": "accuracy_stroke_cued_provisional_lag_bias_ms_fast", "value": 13.2, "meets": None},
        {"name": "accuracy_stroke_cued_calibrated_after_s", "value": 6.25, "meets": True},
        {"name": "pipeline_realtime_factor", "value": 50.0, "meets": True},
    ]
    header, rule, row = table(records)
    assert header.count("|") == rule.count("|") == row.count("|") == 15
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[0] == "stroke_cued"
    assert cells[1] == "**0.90 NO**"
    assert cells[9] == "4.3 (29)"  # the trial lag, not the live one
    assert cells[11] == "13.2"
    assert cells[13] == "6.2 s"
