"""Discrete-time links: a trial is a sequence of frames (one image per frame) whose channel
evolves between frames, with the transmitter adapting its rate to fed-back SNR.

Building blocks, one concept per module:

- :mod:`.fading`: per-frame flat Rayleigh gains correlated across frames (Gauss-Markov, Jakes' J0
  at lag 1), :func:`~.fading.doppler_hz`, :func:`~.fading.frame_correlation`;
- :mod:`.trace`: a prescribed per-frame SNR sequence (inline or CSV);
- :mod:`.feedback`: the receiver's SNR estimate as the transmitter learns it (delayed, corrupted,
  quantised);
- :mod:`.policies`: rate policies mapping the known SNR to a bandwidth ratio (fixed, threshold
  table, target quality from a calibration table).

:class:`LinkConfig` is the scenario's ``link:`` block; ``rate_policy:`` is
:data:`~.config.RatePolicyConfig`. Every config lives in :mod:`.config` (no torch, so that
validating a scenario imports no link code); the rest is imported from its module on first use.
"""

from __future__ import annotations

from linksim.lazy import lazy_exports
from linksim.link.config import (
    RATE_POLICY_TYPES,
    FeedbackConfig,
    FixedPolicyConfig,
    LinkConfig,
    RatePolicyConfig,
    SnrTrace,
    TargetQualityPolicyConfig,
    ThresholdPolicyConfig,
)

_EXPORTS = {
    **dict.fromkeys(("GaussMarkovFading", "doppler_hz", "frame_correlation"), "linksim.link.fading"),
    **dict.fromkeys(("FeedbackPath", "quantise_db"), "linksim.link.feedback"),
    **dict.fromkeys(("FixedPolicy", "QualityTable", "RatePolicy", "TargetQualityPolicy", "ThresholdPolicy",
                     "build_policy"), "linksim.link.policies"),
}
__getattr__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "RATE_POLICY_TYPES",
    "FeedbackConfig",
    "FixedPolicyConfig",
    "LinkConfig",
    "RatePolicyConfig",
    "SnrTrace",
    "TargetQualityPolicyConfig",
    "ThresholdPolicyConfig",
    *_EXPORTS,
]
