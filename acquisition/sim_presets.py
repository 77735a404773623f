"""The simulated patients: mirror coupling presets and muscle names (../shared/DOMAIN.md 7).

Every range here is a [default] of ours unless DOMAIN.md tags it [lit]; the ranges are what a
scorer can expect in the ground truth of each preset.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["MUSCLES", "PRESETS", "SIDES", "PresetSpec", "channel_labels", "pair_names"]

#: Homologous muscles in the order pairs are assigned. Hand and forearm first: mirror movements
#: are studied mostly there.
MUSCLES: tuple[str, ...] = (
    "FDI",  # first dorsal interosseous
    "APB",  # abductor pollicis brevis
    "ECR",  # extensor carpi radialis
    "FCR",  # flexor carpi radialis
    "ADM",  # abductor digiti minimi
    "EDC",  # extensor digitorum communis
    "FDS",  # flexor digitorum superficialis
    "BB",  # biceps brachii
    "TB",  # triceps brachii
    "BR",  # brachioradialis
    "DA",  # anterior deltoid
    "TA",  # tibialis anterior
    "GM",  # gastrocnemius medialis
    "SOL",  # soleus
    "VL",  # vastus lateralis
    "RF",  # rectus femoris
)

#: The two sides, in channel order within a pair.
SIDES: tuple[str, str] = ("left", "right")


@dataclass(frozen=True)
class PresetSpec:
    """How one simulated patient couples the passive side to the active side.

    Attributes
    ----------
    name : str
        The preset's name, as given to ``--preset``.
    layer : str | None
        The tri-layer mechanism ("physiological", "I", "II", "III") or None without mirroring.
    description : str
        One line for the command line banner.
    mirror_probability : float
        Chance that a trial shows mirror activity at all.
    gain_range : tuple of float
        Mirror amplitude / active amplitude, lowest and highest.
    lag_range_ms : tuple of float
        Mirror onset minus active onset, lowest and highest.
    gain_rule : str
        "random" (uniform in the range), "force" (rises with force) or "complexity" (rises with
        task complexity); the last two add +-10 % of the range as trial-to-trial scatter.
    tapping_probability : float
        Chance that a trial is rhythmic tapping rather than a sustained hold.
    shared_drive_fraction : float
        Magnitude-squared coherence of the two sides' beta-band (15-30 Hz) drive: the fraction
        of each side's beta drive that one side's drive explains. Layer I only.
    artefacts : bool
        Bilateral ECG, strong drifting mains, motion bumps, a saturating and a lifted electrode.
    """

    name: str
    layer: str | None
    description: str
    mirror_probability: float
    gain_range: tuple[float, float]
    lag_range_ms: tuple[float, float]
    gain_rule: str
    tapping_probability: float
    shared_drive_fraction: float = 0.0
    artefacts: bool = False


PRESETS: dict[str, PresetSpec] = {
    spec.name: spec
    for spec in (
        PresetSpec(
            name="physiological",
            layer="physiological",
            description="healthy adult: rare, tiny, late mirroring (gain 0.5-5 %, lag 50-400 ms)",
            mirror_probability=0.5,
            gain_range=(0.005, 0.05),
            lag_range_ms=(50.0, 400.0),
            gain_rule="random",
            tapping_probability=0.3,
        ),
        PresetSpec(
            name="congenital",
            layer="I",
            description="layer I: strong simultaneous mirroring with shared beta drive",
            mirror_probability=1.0,
            gain_range=(0.2, 1.0),
            lag_range_ms=(-2.0, 2.0),
            gain_rule="random",
            tapping_probability=0.3,
            shared_drive_fraction=0.3,
        ),
        PresetSpec(
            name="stroke",
            layer="II",
            description="layer II: mirroring grows with force, lag 10-60 ms",
            mirror_probability=0.9,
            gain_range=(0.05, 0.3),
            lag_range_ms=(10.0, 60.0),
            gain_rule="force",
            tapping_probability=0.3,
        ),
        PresetSpec(
            name="demanding",
            layer="III",
            description="layer III: mirroring grows with task complexity, lag 50-300 ms",
            mirror_probability=0.8,
            gain_range=(0.05, 0.3),
            lag_range_ms=(50.0, 300.0),
            gain_rule="complexity",
            tapping_probability=0.5,
        ),
        PresetSpec(
            name="artefacts",
            layer=None,
            description="no mirroring at all: ECG, mains drift, motion, saturation, lift-off",
            mirror_probability=0.0,
            gain_range=(0.0, 0.0),
            lag_range_ms=(0.0, 0.0),
            gain_rule="random",
            tapping_probability=0.3,
            artefacts=True,
        ),
    )
}


def pair_names(n_pairs: int) -> tuple[str, ...]:
    """Name ``n_pairs`` homologous pairs after real muscles, numbered once the list runs out.

    Parameters
    ----------
    n_pairs : int
        How many pairs (at least 1).

    Returns
    -------
    tuple of str
        ``FDI, APB, ...``; past the end of :data:`MUSCLES` the names repeat with a suffix
        (``FDI2, APB2, ...``) so every name stays unique.
    """
    names = []
    for index in range(n_pairs):
        cycle, position = divmod(index, len(MUSCLES))
        suffix = "" if cycle == 0 else str(cycle + 1)
        names.append(f"{MUSCLES[position]}{suffix}")
    return tuple(names)


def channel_labels(pairs: tuple[str, ...]) -> tuple[str, ...]:
    """Channel labels in stream order: ``FDI-L, FDI-R, APB-L, APB-R, ...``.

    Parameters
    ----------
    pairs : tuple of str
        Pair names.

    Returns
    -------
    tuple of str
        Two labels per pair, left first.
    """
    return tuple(f"{pair}-{side[0].upper()}" for pair in pairs for side in SIDES)
