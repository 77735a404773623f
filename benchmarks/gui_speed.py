"""Redraws per second of the experimenter window, offscreen, with a simulated stream running."""

from __future__ import annotations

import importlib.util
import os

from benchmarks.results import Result

__all__ = ["run"]


def run(*, quick: bool) -> list[Result]:
    """The GUI frame-rate record."""
    name = "gui_fps_8pairs_2khz"
    if importlib.util.find_spec("gui.fps") is None:
        return [Result(name, None, "fps", ">= 30", "the experimenter window is not built yet")]
    os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    from gui.fps import measure_fps

    seconds = 5.0 if quick else 20.0
    fps = measure_fps(n_pairs=8, fs_hz=2000.0, seconds=seconds)
    return [Result(name, fps, "fps", ">= 30", f"offscreen, {seconds:g} s, simulated stream")]
