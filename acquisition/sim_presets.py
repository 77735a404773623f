"""The simulated patients: mirror coupling presets and muscle names (../shared/DOMAIN.md 7).

Every range here is a [default] of ours unless DOMAIN.md tags it [lit]; the ranges are what a
scorer can expect in the ground truth of each preset.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

__all__ = [
    "ECG_R_UV_BY_MUSCLE",
    "MUSCLES",
    "PRESETS",
    "REALISMS",
    "SIDES",
    "PresetSpec",
    "Realism",
    "SimOptions",
    "channel_labels",
    "muscle_of",
    "options_for",
    "pair_names",
]

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
    muscles : tuple of str
        The muscles pairs are named after, in order (default :data:`MUSCLES`).
    confounds : tuple of (str, object)
        :class:`SimOptions` fields this preset sets on top of its realism (``clinic``: every
        confound of ../shared/DOMAIN.md 8).
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
    muscles: tuple[str, ...] = MUSCLES
    confounds: tuple[tuple[str, object], ...] = ()


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
        PresetSpec(
            name="clinic",
            layer="II",
            description=(
                "a clinic session: layer II mirroring over the biceps with crosstalk, posture, "
                "twitches, strong ECG, drift, slow graded holds and a cue that is sometimes wrong"
            ),
            mirror_probability=0.7,
            gain_range=(0.05, 0.4),
            lag_range_ms=(10.0, 60.0),
            gain_rule="force",
            tapping_probability=0.25,
            # Biceps first: its ECG (50-150 uV R peaks) is what makes proximal muscles hard.
            muscles=("BB", *(m for m in MUSCLES if m != "BB")),
            confounds=(
                ("crosstalk_probability", 0.4),
                ("posture_probability", 0.15),
                ("tonic_before_probability", 0.05),
                ("late_burst_probability", 0.1),
                ("twitch_rate_per_min", 3.0),
                ("passive_twitch_probability", 0.1),
                ("wrong_cue_probability", 0.05),
                ("graded_probability", 0.6),
            ),
        ),
    )
}

#: The realism switch of every preset: ``clean`` is the original, kind signal; ``real`` adds
#: what every real recording has (../shared/DOMAIN.md 8).
Realism = Literal["clean", "real"]
REALISMS: tuple[Realism, ...] = ("clean", "real")

#: Range of R-peak amplitudes (uV) by muscle group: ECG is small over the hand and forearm and
#: large over the upper arm, shoulder and trunk (DOMAIN 8), and small again over the legs.
ECG_R_UV_BY_MUSCLE: dict[str, tuple[float, float]] = {
    **dict.fromkeys(("FDI", "APB", "ECR", "FCR", "ADM", "EDC", "FDS", "BR"), (3.0, 25.0)),
    **dict.fromkeys(("BB", "TB", "DA"), (50.0, 150.0)),
    **dict.fromkeys(("TA", "GM", "SOL", "VL", "RF"), (1.0, 10.0)),
}


@dataclass(frozen=True)
class SimOptions:
    """Every phenomenon of the synthetic patient, each a switch or a range (DOMAIN 7 and 8).

    :func:`options_for` gives the mixture of a preset and realism; a benchmark scenario replaces
    single fields (``dataclasses.replace``). The ``clean`` values reproduce the original signal
    sample for sample: every phenomenon added since draws from random generators of its own.

    Attributes
    ----------
    realism : Realism
        The mixture these options came from (recorded with the stream).
    mirror_probability : float | None
        Overrides the preset's chance of mirroring (0 for a confound-only scenario).
    reaction_s : tuple of float
        Cue to movement onset [lit 150-400 ms]; the clean signal used 150-350 ms.
    force_fraction : tuple of float
        Force of a trial as a fraction of MVC (clean 0.1-0.6; graded tasks 0.1-0.8).
    ramp_s : tuple of float
        Rise and fall of a brisk contraction.
    graded_probability : float
        Share of holds that are graded-force trials with slow ramps of ``graded_ramp_s``.
    graded_ramp_s : tuple of float
        Ramps of a graded-force trial [DOMAIN 8: 0.25-1 s].
    cosine_ramps : bool
        Half-cosine ramps (smooth from zero, as force is) instead of linear ones.
    force_fluctuation : float
        Depth of the slow (0.2-2 Hz) fluctuation of a contraction's amplitude; a mirror follows
        its active side's fluctuation at its lag (that is what couples their envelopes).
    mirror_own_shape : bool
        A mirror rises and falls with its own ramps (0.5-2x the active ones), not a copy.
    partial_mirror_probability : float
        Chance that a hold's mirror is one short burst of ``partial_mirror_s`` only.
    partial_mirror_s : tuple of float
        Length of such a burst.
    crosstalk_probability : float
        Chance that a trial's passive channel carries a zero-lag copy of the active waveform.
    crosstalk_gain : tuple of float
        Its gain (share of the active waveform) [DOMAIN 8: 2-10 %].
    posture_probability : float
        Chance of tonic / postural activity on the passive side starting ``posture_delay_s``
        after the active onset (beyond any plausible mirror lag).
    posture_delay_s : tuple of float
        Its delay after the active onset.
    tonic_before_probability : float
        Chance that the passive side is already tonically active before the active onset.
    late_burst_probability : float
        Chance of a passive-side burst just after the active offset.
    posture_uv : tuple of float
        Amplitude of posture, tonic and late activity (uV RMS).
    twitch_rate_per_min : float
        Twitches (20-50 ms bursts) per minute on either side of a pair, anywhere.
    passive_twitch_probability : float
        Chance of a twitch on the passive side 0-400 ms after the active onset (where a mirror
        would be).
    twitch_s, twitch_uv : tuple of float
        Length and peak amplitude of a twitch.
    ecg : str
        "none", "artefacts" (the artefacts preset's 8-25 uV on every channel) or "muscle"
        (:data:`ECG_R_UV_BY_MUSCLE`).
    ecg_uv : tuple of float | None
        Overrides the R-peak range of every channel.
    ecg_beat_variation : float
        Beat-to-beat amplitude variation of the R peak (uniform +-).
    drift_uv : tuple of float
        Peak electrode drift below 1 Hz per channel (0, 0: none) [DOMAIN 8: tens to hundreds uV].
    noise_floor_uv : tuple of float
        Rest noise RMS per channel (clean 2-5 uV; real electrodes 1.5-8 uV).
    noise_wander : float
        Peak relative change of each channel's noise floor, over ``noise_wander_period_s``.
    noise_wander_period_s : tuple of float
        Period of that slow wander.
    cue_stream : bool
        Whether the session has a cue marker stream at all.
    wrong_cue_probability : float
        Chance that a cue names the other side (the patient moves the side they meant to).
    """

    realism: Realism = "clean"
    mirror_probability: float | None = None
    reaction_s: tuple[float, float] = (0.15, 0.35)
    force_fraction: tuple[float, float] = (0.1, 0.6)
    ramp_s: tuple[float, float] = (0.05, 0.3)
    graded_probability: float = 0.0
    graded_ramp_s: tuple[float, float] = (0.25, 1.0)
    cosine_ramps: bool = False
    force_fluctuation: float = 0.0
    mirror_own_shape: bool = False
    partial_mirror_probability: float = 0.0
    partial_mirror_s: tuple[float, float] = (0.1, 0.5)
    crosstalk_probability: float = 0.0
    crosstalk_gain: tuple[float, float] = (0.02, 0.10)
    posture_probability: float = 0.0
    posture_delay_s: tuple[float, float] = (0.5, 0.9)
    tonic_before_probability: float = 0.0
    late_burst_probability: float = 0.0
    posture_uv: tuple[float, float] = (15.0, 60.0)
    twitch_rate_per_min: float = 0.0
    passive_twitch_probability: float = 0.0
    twitch_s: tuple[float, float] = (0.02, 0.05)
    twitch_uv: tuple[float, float] = (20.0, 60.0)
    ecg: str = "none"
    ecg_uv: tuple[float, float] | None = None
    ecg_beat_variation: float = 0.0
    drift_uv: tuple[float, float] = (0.0, 0.0)
    noise_floor_uv: tuple[float, float] = (2.0, 5.0)
    noise_wander: float = 0.0
    noise_wander_period_s: tuple[float, float] = (60.0, 300.0)
    cue_stream: bool = True
    wrong_cue_probability: float = 0.0

    def check(self) -> list[str]:
        """Describe every impossible value (an empty list when all are fine)."""
        problems = []
        for name in (
            "graded_probability",
            "partial_mirror_probability",
            "crosstalk_probability",
            "posture_probability",
            "tonic_before_probability",
            "late_burst_probability",
            "passive_twitch_probability",
            "wrong_cue_probability",
            "force_fluctuation",
            "noise_wander",
            "ecg_beat_variation",
        ):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                problems.append(f"{name} must be 0-1, got {value!r}")
        if self.mirror_probability is not None and not 0.0 <= self.mirror_probability <= 1.0:
            problems.append(f"mirror_probability must be 0-1, got {self.mirror_probability!r}")
        if self.twitch_rate_per_min < 0:
            problems.append(f"twitch_rate_per_min must be >= 0, got {self.twitch_rate_per_min!r}")
        if self.ecg not in ("none", "artefacts", "muscle"):
            problems.append(f"ecg must be 'none', 'artefacts' or 'muscle', got {self.ecg!r}")
        if self.realism not in REALISMS:
            problems.append(f"realism must be one of {', '.join(REALISMS)}, got {self.realism!r}")
        for name in (
            "reaction_s", "force_fraction", "ramp_s", "graded_ramp_s", "partial_mirror_s",
            "crosstalk_gain", "posture_delay_s", "posture_uv", "twitch_s", "twitch_uv",
            "drift_uv", "noise_floor_uv", "noise_wander_period_s",
        ):  # fmt: skip
            low, high = getattr(self, name)
            if not 0.0 <= low <= high:
                problems.append(f"{name} must be a range 0 <= low <= high, got {(low, high)!r}")
        if self.noise_floor_uv[0] <= 0.0:
            problems.append("noise_floor_uv must be above 0")
        return problems


#: What ``real`` changes of the clean signal: the body and the electrodes of a real session.
_REAL: dict[str, object] = {
    "reaction_s": (0.15, 0.40),
    "force_fraction": (0.1, 0.8),
    "graded_probability": 0.3,
    "cosine_ramps": True,
    "force_fluctuation": 0.3,
    "mirror_own_shape": True,
    "partial_mirror_probability": 0.15,
    "ecg": "muscle",
    "ecg_beat_variation": 0.1,
    "drift_uv": (50.0, 300.0),
    "noise_floor_uv": (1.5, 8.0),
    "noise_wander": 0.3,
}


def options_for(preset: str, realism: Realism = "clean") -> SimOptions:
    """The phenomena of a preset at a realism.

    Parameters
    ----------
    preset : str
        A key of :data:`PRESETS`.
    realism : {"clean", "real"}
        ``clean``: the original signal; ``real``: adds realistic ECG, drift, noise floors that
        differ and wander, smooth graded contractions and mirrors with their own shape.

    Returns
    -------
    SimOptions
        The mixture; the preset's own confounds (``clinic``) come on top of either realism.
    """
    spec = PRESETS[preset]
    base = SimOptions(realism=realism, ecg="artefacts" if spec.artefacts else "none")
    if realism == "real":
        base = replace(base, **_REAL)  # type: ignore[arg-type]
    return replace(base, **dict(spec.confounds))  # type: ignore[arg-type]


def muscle_of(pair: str) -> str:
    """The muscle a pair name stands for (``FDI2`` -> ``FDI``)."""
    return pair.rstrip("0123456789")


def pair_names(n_pairs: int, muscles: tuple[str, ...] = MUSCLES) -> tuple[str, ...]:
    """Name ``n_pairs`` homologous pairs after real muscles, numbered once the list runs out.

    Parameters
    ----------
    n_pairs : int
        How many pairs (at least 1).
    muscles : tuple of str
        The names to use, in order.

    Returns
    -------
    tuple of str
        ``FDI, APB, ...``; past the end of :data:`MUSCLES` the names repeat with a suffix
        (``FDI2, APB2, ...``) so every name stays unique.
    """
    names = []
    for index in range(n_pairs):
        cycle, position = divmod(index, len(muscles))
        suffix = "" if cycle == 0 else str(cycle + 1)
        names.append(f"{muscles[position]}{suffix}")
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
