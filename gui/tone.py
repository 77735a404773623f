"""An optional feedback tone; silent where Qt has no multimedia or the machine no sound device.

Qt Multimedia needs the system's audio libraries, which a server or a test machine may lack
(its import then fails); the tone is a nicety, so its absence is logged once and ignored.
"""

from __future__ import annotations

import logging
import math
import struct
import tempfile
import wave
from pathlib import Path
from typing import Any

from PyQt6 import QtCore

__all__ = ["Tone"]

log = logging.getLogger(__name__)

TONE_HZ = 660.0
TONE_S = 0.25
SAMPLE_RATE_HZ = 22050


def _write_beep(path: Path) -> None:
    n = round(TONE_S * SAMPLE_RATE_HZ)
    ramp = round(0.01 * SAMPLE_RATE_HZ)  # 10 ms fades: no click at either end
    frames = bytearray()
    for i in range(n):
        gain = min(1.0, i / ramp, (n - 1 - i) / ramp)
        value = 0.4 * gain * math.sin(2 * math.pi * TONE_HZ * i / SAMPLE_RATE_HZ)
        frames += struct.pack("<h", round(32767 * value))
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE_HZ)
        out.writeframes(bytes(frames))


class Tone:
    """A short beep, played at most once per :meth:`play` call; silent when unavailable."""

    def __init__(self) -> None:
        self._effect: Any = None
        self._folder: tempfile.TemporaryDirectory[str] | None = None
        #: How often a beep was asked for (what tests check, since no sound is heard there).
        self.requested = 0
        try:
            from PyQt6.QtMultimedia import QSoundEffect
        except ImportError as err:
            log.info("no feedback tone: Qt Multimedia is not available (%s)", err)
            return
        self._folder = tempfile.TemporaryDirectory(prefix="mirrorscope-tone-")
        path = Path(self._folder.name) / "beep.wav"
        _write_beep(path)
        self._effect = QSoundEffect()
        self._effect.setSource(QtCore.QUrl.fromLocalFile(str(path)))
        self._effect.setVolume(0.6)

    @property
    def available(self) -> bool:
        """Whether a sound can be played at all."""
        return self._effect is not None

    def play(self) -> None:
        """Beep (or count the request when no sound is possible)."""
        self.requested += 1
        if self._effect is not None and not self._effect.isPlaying():
            self._effect.play()

    def close(self) -> None:
        """Release the sound and its temporary file."""
        if self._effect is not None:
            self._effect.stop()
            self._effect = None
        if self._folder is not None:
            self._folder.cleanup()
            self._folder = None
