"""Every built-in channel's YAML block (config class), declared in the channel registry.

The configs live here, apart from their channels (torch, Sionna), so that validating a scenario
imports neither: each names its implementation by path (``@CHANNELS.declare(...)``), imported
when the channel is built. Declaration order is the registry's order.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, NonNegativeInt, field_validator, model_validator

from linksim.registry import Registry
from linksim.schema import TypedConfig

if TYPE_CHECKING:
    from linksim.channels.base import Channel

CHANNELS: Registry[Channel] = Registry("channel")
"""Every channel by its config's ``type``: a built-in one is declared on its config below; an
extension decorates its :class:`~linksim.channels.base.Channel` subclass with ``@CHANNELS.register``."""


class ChannelConfig(TypedConfig):
    """Base of every channel's YAML block; subclasses add ``type: Literal[...]`` and options."""

    @property
    def bler_table(self) -> str | None:
        """The shipped MCS calibration measured on this channel (a name of
        :data:`linksim.digital.BLER_TABLES`), or ``None`` if none was: what an adaptive digital
        link with ``mcs.table: auto`` selects from."""
        return None

    @property
    def time_variation(self) -> Literal["flat_frames", "continuous"] | None:
        """What this channel does on a time-varying link (a scenario's ``link:`` block):

        - ``"flat_frames"``: the link draws one flat gain per frame (or reads an SNR trace) and
          sends each frame over this channel at the resulting SNR;
        - ``"continuous"``: the channel's own realisation evolves across frames (its class
          implements ``sample_cir``/``slot_responses``/``simulate`` as
          :class:`~linksim.channels.ofdm.OFDMChannel` does);
        - ``None``: it cannot carry such a link (refused at validation)."""
        return None


@CHANNELS.declare("linksim.channels.awgn:AWGNChannel")
class AWGNConfig(ChannelConfig):
    """``channel: {type: awgn, snr_pilots: 16}``.

    ``snr_pilots``: known unit-power pilot symbols sent before each sample's data, from which the
    receiver estimates the SNR (counted as pilot overhead); 0 sends none and reports no estimate.
    """

    type: Literal["awgn"] = "awgn"
    snr_pilots: int = Field(16, ge=0, le=1_000_000)

    @field_validator("snr_pilots")
    @classmethod
    def _enough_for_noise(cls, value: int) -> int:
        if value == 1:
            raise ValueError("one pilot cannot separate signal from noise; accepted 0 or >= 2")
        return value

    @property
    def time_variation(self) -> Literal["flat_frames", "continuous"] | None:
        return "flat_frames"

    @property
    def bler_table(self) -> str | None:
        return "awgn"


@CHANNELS.declare("linksim.channels.fading:RayleighChannel")
class RayleighConfig(ChannelConfig):
    """``channel: {type: rayleigh, coherence_symbols: 64, csi: perfect, pilots_per_block: 4}``.

    ``coherence_symbols``: channel uses per fading block, pilots included (the last block of a
    sample may be shorter). ``csi``: ``perfect`` (the receiver knows ``h`` and ``N0``; no pilots)
    or ``estimated`` (``pilots_per_block`` known pilots at the start of every block, LS estimate;
    they are counted as pilot overhead). ``pilots_per_block`` is ignored with perfect CSI.
    """

    type: Literal["rayleigh"] = "rayleigh"
    coherence_symbols: int = Field(64, ge=1, le=1_000_000)
    csi: Literal["perfect", "estimated"] = "perfect"
    pilots_per_block: int = Field(4, ge=2, le=1_000_000)

    @model_validator(mode="after")
    def _pilots_leave_room_for_data(self) -> "RayleighConfig":
        if self.csi == "estimated" and self.pilots_per_block >= self.coherence_symbols:
            raise ValueError(
                f"pilots_per_block: must be smaller than coherence_symbols ({self.coherence_symbols}) "
                f"so that every block carries data; accepted 2..{self.coherence_symbols - 1}, "
                f"got {self.pilots_per_block}"
            )
        return self

    @property
    def pilots(self) -> int:
        """Pilots per block actually sent."""
        return self.pilots_per_block if self.csi == "estimated" else 0


OFDMModel = Literal[
    "flat",
    "TDL-A", "TDL-B", "TDL-C", "TDL-D", "TDL-E",
    "CDL-A", "CDL-B", "CDL-C", "CDL-D", "CDL-E",
]
# SNR estimation: the channel is fitted by a quadratic over windows of 8 adjacent pilot subcarriers
# (5 noise degrees of freedom per window). Measured mean error of the dB estimate against the true
# frame SNR (30 kHz, 52 subcarriers, K = 600): within 0.15 dB from 5 to 30 dB for TDL-A 100 ns
# (-0.3 dB at 40 dB); TDL-A/CDL-A 300 ns: within 0.15 dB from 5 to 20 dB, -0.7 dB at 30 dB,
# -4 dB at 40 dB; about -0.5 dB at 0 dB (log of a noisy estimate in deep fades). Long delay spreads
# bend the response within a window and the estimate saturates: TDL-C 1 us reads -1.2 dB at 10 dB
# and -6 dB at 20 dB. A linear fit saturated about 10 dB earlier.
SNR_WINDOW = 8
SNR_DEGREE = 2
@CHANNELS.declare("linksim.channels.ofdm:OFDMChannel")
class OFDMConfig(ChannelConfig):
    """``channel: {type: ofdm, ...}`` — defaults: a 5G NR-like slot (30 kHz subcarriers, 14 OFDM
    symbols, DMRS-like pilots on symbols 2 and 11) of 64 subcarriers, 5 + 6 guard carriers and a
    DC null (52 used subcarriers, 104 pilot and 624 data REs per slot) over TDL-A at 100 ns delay
    spread, 3.5 GHz, UE speed 0-3 m/s, LS estimation with linear interpolation, LMMSE equalisation.

    Fields: ``model`` (flat | TDL-A..E | CDL-A..E); ``delay_spread`` [s] and ``carrier_frequency``
    [Hz] (TDL/CDL); ``min_speed``/``max_speed`` [m/s] (TDL/CDL); ``direction`` (CDL);
    grid: ``fft_size``, ``subcarrier_spacing`` [Hz], ``num_ofdm_symbols``, ``cyclic_prefix_length``
    (samples; sets the OFDM symbol duration, hence the Doppler per symbol), ``num_guard_carriers``
    (left, right), ``dc_null``, ``pilot_pattern`` (kronecker | empty; empty needs perfect CSI),
    ``pilot_ofdm_symbol_indices``; receiver: ``channel_estimation`` (perfect | ls | lmmse),
    ``interpolation`` (ls only: nn | lin | lin_time_avg), ``lmmse_order`` (lmmse only: f-t |
    t-f), ``equalizer`` (lmmse | zf).
    """

    type: Literal["ofdm"] = "ofdm"
    model: OFDMModel = "TDL-A"
    delay_spread: float = Field(100e-9, gt=0.0, le=10e-6)
    carrier_frequency: float = Field(3.5e9, ge=0.5e9, le=100e9)
    min_speed: float = Field(0.0, ge=0.0, le=500.0)
    max_speed: float = Field(3.0, ge=0.0, le=500.0)
    direction: Literal["downlink", "uplink"] = "downlink"
    fft_size: int = Field(64, ge=1, le=8192)
    subcarrier_spacing: float = Field(30e3, gt=0.0, le=2e6)
    num_ofdm_symbols: int = Field(14, ge=1, le=1024)
    cyclic_prefix_length: int = Field(5, ge=0)
    num_guard_carriers: tuple[NonNegativeInt, NonNegativeInt] = (5, 6)
    dc_null: bool = True
    pilot_pattern: Literal["kronecker", "empty"] = "kronecker"
    pilot_ofdm_symbol_indices: tuple[NonNegativeInt, ...] = (2, 11)
    channel_estimation: Literal["perfect", "ls", "lmmse"] = "ls"
    interpolation: Literal["nn", "lin", "lin_time_avg"] = "lin"
    lmmse_order: Literal["f-t", "t-f"] = "f-t"
    equalizer: Literal["lmmse", "zf"] = "lmmse"

    @property
    def time_variation(self) -> Literal["flat_frames", "continuous"] | None:
        # a TDL/CDL realisation evolves with the Doppler; the flat model has no time evolution
        return None if self.model == "flat" else "continuous"

    @property
    def bler_table(self) -> str | None:
        # calibrated on TDL-A with the default grid, delay spread and speeds (tables/tdl-a-*.md)
        if self.model == "TDL-A" and self.channel_estimation in ("ls", "lmmse"):
            return f"tdl-a-{self.channel_estimation}"
        return None

    @field_validator("pilot_ofdm_symbol_indices")
    @classmethod
    def _sorted_unique(cls, value: tuple[int, ...]) -> tuple[int, ...]:
        if len(set(value)) != len(value):
            raise ValueError(f"indices must be unique, got {list(value)}")
        return tuple(sorted(value))

    @property
    def dc_index(self) -> int:
        """Index of the DC subcarrier (Sionna's convention)."""
        return self.fft_size // 2

    @property
    def num_effective_subcarriers(self) -> int:
        return self.fft_size - sum(self.num_guard_carriers) - int(self.dc_null)

    @model_validator(mode="after")
    def _consistent_grid(self) -> "OFDMConfig":
        n, fft = self.num_ofdm_symbols, self.fft_size
        if self.cyclic_prefix_length >= fft:
            raise ValueError(
                f"cyclic_prefix_length: must be smaller than fft_size ({fft}); accepted 0..{fft - 1}, "
                f"got {self.cyclic_prefix_length}"
            )
        left, right = self.num_guard_carriers
        if self.num_effective_subcarriers < 1:
            raise ValueError(
                f"num_guard_carriers: [{left}, {right}] leave no subcarrier of fft_size {fft}"
                f"{' with the DC null' if self.dc_null else ''}; the sum must be at most "
                f"{fft - int(self.dc_null) - 1}"
            )
        if self.dc_null and (left > self.dc_index or right > fft - self.dc_index - 1):
            raise ValueError(
                f"num_guard_carriers: [{left}, {right}] would cover the DC subcarrier (index "
                f"{self.dc_index}); accepted left <= {self.dc_index}, right <= {fft - self.dc_index - 1}"
            )
        if self.max_speed < self.min_speed:
            raise ValueError(
                f"max_speed: must be >= min_speed ({self.min_speed} m/s), got {self.max_speed}"
            )
        if self.pilot_pattern == "kronecker":
            indices = self.pilot_ofdm_symbol_indices
            if not indices:
                raise ValueError("pilot_ofdm_symbol_indices: the kronecker pilot pattern needs at least one index")
            if indices[-1] >= n:
                raise ValueError(
                    f"pilot_ofdm_symbol_indices: index {indices[-1]} is out of the grid; accepted "
                    f"0..{n - 1} (num_ofdm_symbols={n})"
                )
            if len(indices) >= n:
                raise ValueError(
                    f"pilot_ofdm_symbol_indices: pilots on all {n} OFDM symbols leave no data; "
                    f"at most {n - 1} indices"
                )
        elif self.channel_estimation != "perfect":
            raise ValueError(
                f"pilot_pattern: 'empty' sends no pilots, so channel_estimation must be 'perfect', "
                f"got '{self.channel_estimation}'"
            )
        if self.channel_estimation != "perfect" and self.num_effective_subcarriers < SNR_DEGREE + 2:
            raise ValueError(
                f"num_guard_carriers: pilot-based SNR estimation needs at least {SNR_DEGREE + 2} used "
                f"subcarriers, got {self.num_effective_subcarriers} (fft_size {fft}, guards [{left}, {right}])"
            )
        return self
