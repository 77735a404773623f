"""The accuracy records of a ``mirrorscope bench --json`` file as the table of RESULTS.md.

``python -m benchmarks.accuracy_table results.json`` prints one Markdown row per scenario, a
missed goal in bold with ``NO``, in the column order of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

__all__ = ["table"]

_PREFIX = "accuracy_"
HEADER = (
    "| scenario | clear mirror sens. | other mirrors | false mirrors/min | movements | "
    "extra act./min | side acc. | onset bias fast (IQR) | onset bias slow (IQR) | "
    "lag bias fast (IQR) | lag bias slow (IQR) | live lag bias fast | "
    "ratio bias / median abs | calibrated |"
)


def _cell(record: dict[str, Any] | None, digits: int = 2, *, signed: bool = False) -> str:
    if record is None or record["value"] is None:
        return "-"
    value = float(record["value"])
    text = f"{value:+.{digits}f}" if signed else f"{value:.{digits}f}"
    return f"**{text} NO**" if record.get("meets") is False else text


def _pair(bias: dict[str, Any] | None, spread: dict[str, Any] | None) -> str:
    return f"{_cell(bias, 1)} ({_cell(spread, 0)})"


def table(records: list[dict[str, Any]]) -> list[str]:
    """Markdown lines: the header, its rule and one row per scenario, in the records' order."""
    by_scenario: dict[str, dict[str, dict[str, Any]]] = {}
    suffixes = (
        "clear_mirror_sensitivity", "other_mirror_sensitivity", "false_mirrors_per_min",
        "movement_sensitivity", "extra_activations_per_min", "active_side_accuracy",
        "provisional_lag_bias_ms_fast", "provisional_lag_iqr_ms_fast",
        "provisional_lag_bias_ms_slow", "provisional_lag_iqr_ms_slow",
        "onset_bias_ms_fast", "onset_iqr_ms_fast", "onset_bias_ms_slow", "onset_iqr_ms_slow",
        "lag_bias_ms_fast", "lag_iqr_ms_fast", "lag_bias_ms_slow", "lag_iqr_ms_slow",
        "ratio_bias", "ratio_median_abs_error", "calibrated_after_s", "retractions_per_min",
    )  # fmt: skip
    for record in records:
        name = str(record["name"])
        if not name.startswith(_PREFIX):
            continue
        name = name[len(_PREFIX) :]
        for suffix in suffixes:  # the longest suffixes come first where two share an ending
            if name.endswith("_" + suffix):
                scenario = name[: -len(suffix) - 1]
                by_scenario.setdefault(scenario, {}).setdefault(suffix, record)
                break
    lines = [HEADER, "|" + "---|" * 14]
    for scenario, r in by_scenario.items():
        calibrated = r.get("calibrated_after_s")
        cal = "-" if calibrated is None else _cell(calibrated, 1) + " s"
        cells = [
            scenario,
            _cell(r.get("clear_mirror_sensitivity")),
            _cell(r.get("other_mirror_sensitivity")),
            _cell(r.get("false_mirrors_per_min")),
            _cell(r.get("movement_sensitivity")),
            _cell(r.get("extra_activations_per_min")),
            _cell(r.get("active_side_accuracy")),
            _pair(r.get("onset_bias_ms_fast"), r.get("onset_iqr_ms_fast")),
            _pair(r.get("onset_bias_ms_slow"), r.get("onset_iqr_ms_slow")),
            _pair(r.get("lag_bias_ms_fast"), r.get("lag_iqr_ms_fast")),
            _pair(r.get("lag_bias_ms_slow"), r.get("lag_iqr_ms_slow")),
            _cell(r.get("provisional_lag_bias_ms_fast"), 1),
            _cell(r.get("ratio_bias"), 2, signed=True)
            + " / "
            + _cell(r.get("ratio_median_abs_error")),
            cal,
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return lines


def main(argv: list[str]) -> int:
    """Print the table of a results file."""
    if len(argv) != 1:
        sys.stderr.write("usage: python -m benchmarks.accuracy_table RESULTS.json\n")
        return 2
    data = json.loads(Path(argv[0]).read_text())
    records = data if isinstance(data, list) else data["results"]
    sys.stdout.write("\n".join(table(records)) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
