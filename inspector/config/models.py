"""The ``models`` and ``drift`` sections of the station config: the model registry (promotion, hot swap, gate) and drift alarms."""

from __future__ import annotations

from dataclasses import dataclass

from inspector.typed import spec


PACKAGE_ID_DIGITS = (12, 64)  # a pin's package id: the whole content address, or a prefix of at least 12 hex digits


def model_slot_names(additional_models: int) -> list[str]:
    """The station's model slots, in the detector's order: 'primary', then 'additional-1', ..."""
    return ["primary", *(f"additional-{i + 1}" for i in range(additional_models))]


def is_package_pin(ref: str) -> bool:
    """A pin names a package as ``name@version`` or by its package id (lower-case hex, see PACKAGE_ID_DIGITS)."""
    name, at, version = ref.partition("@")
    if at:
        return bool(name.strip() and version.strip())
    return PACKAGE_ID_DIGITS[0] <= len(ref) <= PACKAGE_ID_DIGITS[1] and all(c in "0123456789abcdef" for c in ref)


@dataclass(frozen=True)
class ModelRegistryConfig:
    folder: str | None = spec(
        None, doc="The station's model registry (every installed signed package, content-addressed, and the owner-only "
        "production pointer); None = 'model-registry' in station.state_dir. See docs/model-registry.md."
    )
    pins: dict[str, str] = spec(
        factory=dict,
        doc="Per model slot (primary, additional-1, ...), the package its configured model must be: a package id (its "
        "content address, as 'inspector model show' prints it, or a prefix of at least 12 hex digits) or name@version. "
        "A package signed by a trusted key at the configured path that is not this one is refused (model_refused) and "
        "the last-known-good set runs. A slot without a pin runs the package it last ran from the same path, or a new "
        "path's package; a promoted model is pinned by the registry. See docs/security.md.",
    )
    follow_production: bool = spec(
        True,
        doc="The detector runs the registry's production model of each slot (primary, additional-N) in place of the "
        "configured one once a model is promoted ('inspector model promote'), and swaps to a newly promoted one "
        "between parts. Slots nothing was promoted to run the configured model.",
    )
    check_interval_s: float = spec(
        1.0, doc="How often the detector looks at the production pointer between parts (seconds).", minimum=0.05, maximum=60
    )
    marked_parts: int = spec(
        20, doc="The first this many parts decided by a newly swapped-in model carry their count in 'first_on_model'.",
        minimum=1, maximum=100000,
    )
    max_reject_rate_departure: float = spec(
        0.2,
        doc="After a swap to a model that ran in shadow, roll it back automatically (with an alarm) when its reject rate "
        "over the first 'departure_parts' parts differs from the rate its shadow run measured by more than this (absolute).",
        minimum=0.01, maximum=1,
    )
    departure_parts: int = spec(
        100, doc="Parts after a swap over which the new model's reject rate is compared with its shadow run's.",
        minimum=5, maximum=100000,
    )
    triage_band: float = spec(
        0.1, doc="A decided part whose closest score lies within this of its class's reject threshold (model score units) "
        "is queued for review, least certain first ('inspector model triage', the review screen).", minimum=0,
    )
    require_gate: bool = spec(
        True,
        doc="'inspector model promote' refuses a candidate without a passing gate ('inspector model gate') against the "
        "slot's production model on the latest golden set, unless forced with a reason (audited).",
    )
    gate_false_reject_tolerance: float = spec(
        0.0,
        doc="The gate lets a candidate reject at most production's false rejects plus this share of the golden set's "
        "good images (0.01 = one more per hundred good images).",
        minimum=0, maximum=1,
    )


@dataclass(frozen=True)
class DriftConfig:
    enabled: bool = spec(
        True, doc="Watch the line for drift away from a reference (image brightness and contrast, score distribution, "
        "reject rate) and raise a warning alarm naming what moved. See docs/model-registry.md."
    )
    reference_parts: int = spec(
        200, doc="Per camera, the first this many parts after the detector starts (and, for scores and reject rate, after "
        "a model swap) are the reference.", minimum=5, maximum=1_000_000,
    )
    window_parts: int = spec(200, doc="The latest this many parts are compared with the reference.", minimum=5, maximum=100_000)
    max_brightness_shift: float = spec(
        15.0, doc="Alarm when the window's mean grey level is this many 8-bit levels from the reference's.", minimum=0.1
    )
    max_contrast_change: float = spec(
        0.3, doc="Alarm when the window's mean contrast (grey-level standard deviation) differs from the reference's by "
        "this share.", minimum=0.01,
    )
    max_score_psi: float = spec(
        0.25, doc="Alarm when the population stability index of the window's part scores against the reference scores "
        "exceeds this (0.1 small, 0.25 large shift). The reference scores are the production model's gate scores when "
        "it was gated ('inspector model gate'), else the reference parts'.", minimum=0.01,
    )
    max_reject_rate_change: float = spec(
        0.25, doc="Alarm when the window's reject rate differs from the reference parts' by more than this (absolute).",
        minimum=0.01, maximum=1,
    )
    max_latency_increase: float = spec(
        1.0, doc="Alarm when the models' mean time per part over the window exceeds the reference parts' by this share "
        "(1.0 = twice as long): a slower accelerator, thermal throttling, a competing process.", minimum=0.05,
    )
    series_every_parts: int = spec(
        10, doc="Every this many parts per camera the detector appends the drift measures to drift.db beside the recorder "
        "database, for the HMI's trend plots (0 = keep no series). After the verdict left; a failed write is logged only.",
        minimum=0, maximum=100_000,
    )
    series_points: int = spec(
        5000, doc="The drift series keeps this many latest points per camera (older ones are deleted).", minimum=10, maximum=10_000_000,
    )
