"""Colours and fonts shared by the windows.

The palette is Okabe and Ito's (2008), chosen so that every pair of colours used together stays
distinct under the common forms of colour blindness. Colour never carries meaning alone: every
coloured state also has a word, a symbol or a fill pattern (active periods are solid, mirror
periods hatched; the mirror indicator says MIRROR).
"""

from __future__ import annotations

__all__ = [
    "ACTIVE",
    "BLACK",
    "BLUE",
    "BLUISH_GREEN",
    "ENVELOPE",
    "GREY",
    "LIGHT_GREY",
    "MIRROR",
    "OFF_LINE",
    "ON_LINE",
    "ORANGE",
    "REDDISH_PURPLE",
    "SKY_BLUE",
    "TRACE",
    "VERMILLION",
    "YELLOW",
    "rgba",
]

BLACK = "#000000"
ORANGE = "#E69F00"
SKY_BLUE = "#56B4E9"
BLUISH_GREEN = "#009E73"
YELLOW = "#F0E442"
BLUE = "#0072B2"
VERMILLION = "#D55E00"
REDDISH_PURPLE = "#CC79A7"
GREY = "#9A9A9A"
LIGHT_GREY = "#E6E6E6"

#: The filtered trace: quiet, so that the envelope and thresholds stand out over it.
TRACE = GREY
#: The detection envelope, which the thresholds apply to.
ENVELOPE = BLUE
#: Threshold lines: on (dashed) and off (dotted), told apart by pattern as well as tint.
ON_LINE = VERMILLION
OFF_LINE = REDDISH_PURPLE
#: Shading of a voluntary activation (solid) and of mirror activity (hatched).
ACTIVE = SKY_BLUE
MIRROR = ORANGE


def rgba(colour: str, alpha: int) -> tuple[int, int, int, int]:
    """Return ``#RRGGBB`` as an RGBA tuple with the given alpha (0-255)."""
    value = colour.lstrip("#")
    return (int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16), alpha)
