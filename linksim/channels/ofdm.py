"""OFDM link in the frequency domain: Sionna resource grid, 3GPP channel, estimator, equaliser.

Transmitter: a sample's ``K`` symbols fill the data resource elements (REs) of as many slots
(Sionna :class:`~sionna.phy.ofdm.ResourceGrid`, one grid = one slot) as needed, ``[B, K]`` ->
``[B * S, 1, 1, D]`` with ``D`` data REs per slot and ``S = ceil(K / D)``; the last slot is
zero-padded and the padding is no channel use (it is dropped at the receiver).
:class:`~sionna.phy.ofdm.ResourceGridMapper` adds the pilots.

Channel: :class:`sionna.phy.channel.OFDMChannel` (no ISI/ICI, one independent realisation per
slot, ``normalize_channel=False`` so that fading is kept) with one of

- ``TDL-A`` .. ``TDL-E``: 3GPP TR 38.901 tapped delay line (section 7.7.2), Sionna
  :class:`~sionna.phy.channel.tr38901.TDL`, scaled by ``delay_spread``, UE speed uniform in
  ``[min_speed, max_speed]`` (Doppler within the slot);
- ``CDL-A`` .. ``CDL-E``: TR 38.901 clustered delay line (section 7.7.1), Sionna
  :class:`~sionna.phy.channel.tr38901.CDL`, SISO: one omnidirectional vertically polarised
  antenna at the UT and at the BS, ``direction`` downlink or uplink;
- ``flat``: one Rayleigh tap, constant over the slot
  (:class:`~sionna.phy.channel.RayleighBlockFading`) — block fading with block = slot.

All have unit average gain ``E|h|^2 = 1``.

Receiver: channel estimation ``perfect`` (the true response of the effective subcarriers, Sionna
:class:`~sionna.phy.ofdm.RemoveNulledSubcarriers`, error variance 0), ``ls``
(:class:`~sionna.phy.ofdm.LSChannelEstimator` with nearest-neighbour / linear / linear
time-averaged interpolation; its error variance is computed exactly from the interpolation
weights, see :func:`interpolation_error_gain`) or ``lmmse``
(:class:`~sionna.phy.ofdm.LMMSEChannelEstimator`; see :func:`channel_covariances` for its
covariance matrices), then Sionna's :class:`~sionna.phy.ofdm.LMMSEEqualizer` or
:class:`~sionna.phy.ofdm.ZFEqualizer`, whose ``no_eff`` (it includes the estimation error
variance) is the returned ``noise_var``: ``E[|y - x|^2 / noise_var]`` measures 1.00 +- 0.01 for
perfect CSI, LS (all interpolations) and LMMSE over TDL-A at 0-20 dB (tests check it).

The SNR estimate (:mod:`.snr`) uses the LS observations on the pilot REs in windows of
:data:`SNR_WINDOW` adjacent subcarriers (channel locally quadratic in frequency); with perfect CSI
the exact frame SNR over the data REs is reported.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from sionna.phy import config as sionna_config
from sionna.phy.channel import ApplyOFDMChannel, cir_to_ofdm_channel, subcarrier_frequencies
from sionna.phy.channel import OFDMChannel as SionnaOFDMChannel
from sionna.phy.channel import RayleighBlockFading
from sionna.phy.channel.tr38901 import CDL, TDL, Antenna
from sionna.phy.mimo import StreamManagement
from sionna.phy.ofdm import (
    LinearInterpolator,
    LMMSEChannelEstimator,
    LMMSEEqualizer,
    LSChannelEstimator,
    NearestNeighborInterpolator,
    RemoveNulledSubcarriers,
    ResourceGrid,
    ResourceGridMapper,
    ZFEqualizer,
    tdl_freq_cov_mat,
    tdl_time_cov_mat,
)

from linksim.channels.base import (
    CHANNELS,
    Channel,
    ChannelOutput,
    sionna_device,
    snr_db_to_noise_var,
)
from linksim.channels.config import SNR_DEGREE, SNR_WINDOW, OFDMConfig
from linksim.channels.snr import estimate_snr_db, frame_snr_db, pilot_observations, windows

GRID_SEED = 0x5EED  # Kronecker pilots are random QPSK: drawn from a fixed seed, same in every run
COVARIANCE_SEED = 0xC0FFEE  # channel draws for the empirical CDL covariance
COVARIANCE_SLOTS = 1024  # slots averaged for the empirical CDL covariance
SPEED_POINTS = 32  # quadrature points of the uniform UE speed distribution (TDL time covariance)


@contextmanager
def fixed_sionna_rng(device: str, seed: int) -> Iterator[None]:
    """Run a block of Sionna code on a private, fixed random stream of ``device``'s generator,
    then restore the generator, so that construction-time draws neither depend on nor disturb
    the seed a sweep sets per point."""
    generator = sionna_config.torch_rng(device)
    state = generator.get_state()
    generator.manual_seed(seed)
    try:
        yield
    finally:
        generator.set_state(state)


def interpolation_error_gain(interpolator: torch.nn.Module, num_pilots: int, device: str) -> torch.Tensor:
    """Per-RE gain ``sum_j |w_ij|^2`` ``[N, M]`` of a (linear) Sionna pilot interpolator.

    LS estimates at unit-modulus pilots have independent errors of variance ``N0``; an
    interpolator that forms ``h_hat_i = sum_j w_ij h_ls_j`` turns them into errors of variance
    ``N0 sum_j |w_ij|^2``. The weights are read off by interpolating the unit vectors.
    """
    eye = torch.eye(num_pilots, dtype=torch.complex64, device=device)
    eye = eye.reshape(num_pilots, 1, 1, 1, 1, num_pilots)  # a batch of unit vectors
    with torch.no_grad():
        weights, _ = interpolator(eye, torch.zeros(eye.shape, device=device))  # [P, 1, 1, 1, 1, N, M]
    return weights.abs().square().sum(dim=0)[0, 0, 0, 0]


def channel_covariances(
    config: OFDMConfig, rg: ResourceGrid, generate: Callable[[int], torch.Tensor], device: str
) -> tuple[torch.Tensor, torch.Tensor]:
    """Time ``[N, N]`` and frequency ``[M, M]`` covariance matrices of the channel over one slot
    (``M`` effective subcarriers), as :class:`~sionna.phy.ofdm.LMMSEChannelEstimator` needs.

    - TDL: Sionna's closed forms from the power delay profile, :func:`~sionna.phy.ofdm.tdl_freq_cov_mat`
      (restricted to the effective subcarriers) and :func:`~sionna.phy.ofdm.tdl_time_cov_mat`,
      the latter averaged over the uniform speed distribution (the covariance is linear in the
      speed density, so the average is exact up to quadrature).
    - flat: the gain is constant over the slot, so both are all-ones matrices.
    - CDL: Sionna has no closed form; estimated from :data:`COVARIANCE_SLOTS` channel draws on a
      fixed private random stream (deterministic, independent of the sweep's seed).
    """
    n, m = config.num_ofdm_symbols, rg.num_effective_subcarriers
    cdtype = torch.complex64
    if config.model == "flat":
        return (torch.ones(n, n, dtype=cdtype, device=device), torch.ones(m, m, dtype=cdtype, device=device))
    if config.model.startswith("TDL"):
        letter = config.model[-1]
        sc = torch.as_tensor(rg.effective_subcarrier_ind, device=device)
        cov_f = tdl_freq_cov_mat(letter, config.subcarrier_spacing, config.fft_size, config.delay_spread,
                                 device=device)[sc][:, sc]
        points = 1 if config.max_speed == config.min_speed else SPEED_POINTS
        # Midpoints of `points` equal cells of [min_speed, max_speed].
        speeds = config.min_speed + (np.arange(points) + 0.5) / points * (config.max_speed - config.min_speed)
        cov_t = sum(tdl_time_cov_mat(letter, float(v), config.carrier_frequency, rg.ofdm_symbol_duration, n,
                                     device=device) for v in speeds) / points
        return cov_t, cov_f
    with fixed_sionna_rng(device, COVARIANCE_SEED), torch.no_grad():
        h = generate(COVARIANCE_SLOTS)[:, 0, 0, 0, 0]  # [b, N, fft_size]
        h = RemoveNulledSubcarriers(rg, device=device)(h)  # [b, N, M]
    cov_t = torch.einsum("bnm,bkm->nk", h, h.conj()) / (h.shape[0] * m)
    cov_f = torch.einsum("bnm,bnk->mk", h, h.conj()) / (h.shape[0] * n)
    return cov_t, cov_f


@dataclass(frozen=True)
class OFDMFrame:
    """Everything one :meth:`OFDMChannel.simulate` produced (``S`` slots per sample, ``D`` data
    REs per slot, ``N`` OFDM symbols, ``M`` effective subcarriers).

    Attributes:
        output: what :meth:`OFDMChannel.forward` returns.
        h: true channel on the effective subcarriers ``[B * S, N, M]``.
        h_hat: its estimate ``[B * S, N, M]``.
        err_var: the error variance the equaliser was given ``[B * S, N, M]`` (0: perfect CSI).
        slots: ``S``.
    """

    output: ChannelOutput
    h: torch.Tensor
    h_hat: torch.Tensor
    err_var: torch.Tensor
    slots: int


@CHANNELS.register
class OFDMChannel(Channel):
    """SISO OFDM link over a 3GPP TR 38.901 TDL/CDL or flat Rayleigh channel (Sionna blocks).

    Input: ``x`` ``[B, K]`` complex (unit average power), ``snr_db`` ``[B]`` (Es/N0 per RE).
    Output: :class:`ChannelOutput`: ``y`` ``[B, K]`` (equalised data REs, unbiased), ``noise_var``
    ``[B, K]`` (Sionna's post-equalisation ``no_eff``), ``snr_estimate_db`` ``[B]`` and
    ``pilot_uses`` = pilot REs per slot x slots per sample. See the module docstring.
    """

    config_class = OFDMConfig
    description = ("OFDM slots over 3GPP TDL/CDL or flat Rayleigh (Sionna): perfect/LS/LMMSE "
                   "estimation, LMMSE/ZF equalisation")

    def __init__(self, config: OFDMConfig | None = None, device: str = "cpu") -> None:
        super().__init__()
        self.config = cfg = config or OFDMConfig()
        self.device = device = sionna_device(device)
        with fixed_sionna_rng(device, GRID_SEED):
            self.rg = rg = ResourceGrid(
                num_ofdm_symbols=cfg.num_ofdm_symbols, fft_size=cfg.fft_size,
                subcarrier_spacing=cfg.subcarrier_spacing, cyclic_prefix_length=cfg.cyclic_prefix_length,
                num_guard_carriers=cfg.num_guard_carriers, dc_null=cfg.dc_null,
                pilot_pattern=cfg.pilot_pattern,
                pilot_ofdm_symbol_indices=list(cfg.pilot_ofdm_symbol_indices) or None,
                device=device,
            )
        self.mapper = ResourceGridMapper(rg, device=device)
        self.channel_model = self._channel_model()
        self.channel = SionnaOFDMChannel(self.channel_model, rg, normalize_channel=False,
                                         return_channel=True, device=device)
        self.apply_channel = ApplyOFDMChannel(device=device)
        self.remove_nulled = RemoveNulledSubcarriers(rg, device=device)
        self.estimator = self._estimator()
        sm = StreamManagement(np.array([[1]]), 1)
        equalizer = LMMSEEqualizer if cfg.equalizer == "lmmse" else ZFEqualizer
        # One stream: no interference to whiten; skipping it gives the same output, 40% faster.
        kwargs = {"whiten_interference": False} if cfg.equalizer == "lmmse" else {}
        self.equalizer = equalizer(rg, sm, device=device, **kwargs)
        # Static RE bookkeeping, in Sionna's order (flattened [symbol, subcarrier], ascending).
        mask = rg.pilot_pattern.mask[0, 0].reshape(-1)
        self.register_buffer("data_index", torch.nonzero(mask == 0)[:, 0].to(device))
        self.register_buffer("pilot_index", torch.nonzero(mask != 0)[:, 0].to(device))
        self.register_buffer("pilots", rg.pilot_pattern.pilots[0, 0].to(device))
        self.snr_window = min(SNR_WINDOW, rg.num_effective_subcarriers)

    # -- construction ----------------------------------------------------------------------------
    def _channel_model(self, speed: float | None = None) -> torch.nn.Module:
        """The Sionna channel model; ``speed`` [m/s] overrides the config's speed range."""
        cfg, device = self.config, self.device
        min_speed, max_speed = (cfg.min_speed, cfg.max_speed) if speed is None else (speed, speed)
        if cfg.model == "flat":
            return RayleighBlockFading(num_rx=1, num_rx_ant=1, num_tx=1, num_tx_ant=1, device=device)
        family, letter = cfg.model.split("-")
        if family == "TDL":
            return TDL(letter, cfg.delay_spread, cfg.carrier_frequency, min_speed=min_speed,
                       max_speed=max_speed, device=device)
        antenna = {"polarization": "single", "polarization_type": "V", "antenna_pattern": "omni",
                   "carrier_frequency": cfg.carrier_frequency, "device": device}
        return CDL(letter, cfg.delay_spread, cfg.carrier_frequency, ut_array=Antenna(**antenna),
                   bs_array=Antenna(**antenna), direction=cfg.direction, min_speed=min_speed,
                   max_speed=max_speed, device=device)

    def _estimator(self) -> torch.nn.Module | None:
        cfg, rg, device = self.config, self.rg, self.device
        if cfg.channel_estimation == "ls":
            if cfg.interpolation == "nn":
                interpolator = NearestNeighborInterpolator(rg.pilot_pattern, device=device)
            else:
                interpolator = LinearInterpolator(rg.pilot_pattern, time_avg=cfg.interpolation == "lin_time_avg",
                                                  device=device)
            # Sionna's interpolators interpolate the pilots' error variance itself, which misstates
            # the error of an interpolated estimate (measured for "lin": 0.51-1.54 N0 across the
            # slot, N0 reported; slot edges are extrapolated). LS + interpolation is linear, so
            # the exact variance is N0 times this static per-RE gain.
            gain = interpolation_error_gain(interpolator, rg.num_pilot_symbols, device)
            self.register_buffer("ls_error_gain", gain)  # [N, M]
            return LSChannelEstimator(rg, interpolator=interpolator, device=device)
        if cfg.channel_estimation == "lmmse":
            cov_t, cov_f = channel_covariances(cfg, rg, self.channel_generate, device)
            return LMMSEChannelEstimator(rg, cov_t, cov_f, order=cfg.lmmse_order, device=device)
        return None

    # -- channels that evolve over many slots (time-varying links) -------------------------------
    @property
    def symbol_rate(self) -> float:
        """OFDM symbols per second (cyclic prefix included): the CIR sampling rate."""
        return 1.0 / self.rg.ofdm_symbol_duration

    def sample_cir(self, batch_size: int, num_symbols: int, speed: float) -> tuple[torch.Tensor, torch.Tensor]:
        """One continuous TDL/CDL realisation per sample over ``num_symbols`` OFDM symbol times at
        terminal ``speed``: path gains ``[B, 1, 1, 1, 1, P, num_symbols]`` and delays ``[B, 1, 1, P]``
        (Sionna's sum-of-sinusoids model, so consecutive slices evolve with the Doppler)."""
        if self.config.model == "flat":
            raise ValueError("the flat model has no time evolution; use a TDL or CDL model")
        model = self._channel_model(speed)
        return model(batch_size, num_symbols, self.symbol_rate)

    def slot_responses(self, a: torch.Tensor, tau: torch.Tensor) -> torch.Tensor:
        """Path gains of whole slots ``[b, 1, 1, 1, 1, P, N]`` (``N`` OFDM symbols) and delays
        ``[b, 1, 1, P]`` -> frequency responses ``[b, 1, 1, 1, 1, N, fft_size]`` for :meth:`simulate`."""
        frequencies = subcarrier_frequencies(self.config.fft_size, self.config.subcarrier_spacing, device=self.device)
        return cir_to_ofdm_channel(frequencies, a, tau, normalize=False)

    def channel_generate(self, batch_size: int) -> torch.Tensor:
        """Channel frequency responses of ``batch_size`` slots ``[b, 1, 1, 1, 1, N, fft_size]``."""
        return self.channel.generate(batch_size)

    # -- bookkeeping -----------------------------------------------------------------------------
    @property
    def data_res_per_slot(self) -> int:
        """Data resource elements per slot ``D``."""
        return self.rg.num_data_symbols

    @property
    def pilot_res_per_slot(self) -> int:
        """Pilot resource elements per slot."""
        return self.rg.num_pilot_symbols

    def slots(self, num_symbols: int) -> int:
        """Slots a sample of ``num_symbols`` symbols occupies."""
        return math.ceil(num_symbols / self.data_res_per_slot)

    def pilot_uses(self, num_symbols: int) -> int:
        return self.slots(num_symbols) * self.pilot_res_per_slot

    # -- link --------------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor, snr_db: torch.Tensor) -> ChannelOutput:
        return self.simulate(x, snr_db).output

    def simulate(self, x: torch.Tensor, snr_db: torch.Tensor, h_freq: torch.Tensor | None = None) -> OFDMFrame:
        """Send ``x`` ``[B, K]`` and return the output with the true and estimated channels.

        ``h_freq`` ``[B*S, 1, 1, 1, 1, N, fft_size]`` (``S = slots(K)``, sample-major) gives the
        channel of every slot (e.g. from :meth:`slot_responses`); by default each slot draws an
        independent realisation."""
        b, k = x.shape
        d, s = self.data_res_per_slot, self.slots(k)
        no = snr_db_to_noise_var(snr_db.to(device=x.device, dtype=torch.float32))  # [B]
        no_slot = no.repeat_interleave(s)  # [B * S]
        symbols = F.pad(x, (0, s * d - k)).reshape(b * s, 1, 1, d)
        if h_freq is None:
            y, h = self.channel(self.mapper(symbols), no_slot)  # [B*S, 1, 1, N, F], [B*S, 1, 1, 1, 1, N, F]
        else:
            h = h_freq
            y = self.apply_channel(self.mapper(symbols), h, no_slot)
        h = self.remove_nulled(h)  # [B*S, 1, 1, 1, 1, N, M]
        if self.estimator is None:
            h_hat, err_var = h, torch.zeros((), device=x.device)
        else:
            h_hat, err_var = self.estimator(y, no_slot)  # both [B*S, 1, 1, 1, 1, N, M]
            if self.config.channel_estimation == "ls":
                err_var = no_slot.reshape(-1, 1, 1, 1, 1, 1, 1) * self.ls_error_gain
        x_hat, no_eff = self.equalizer(y, h_hat, err_var, no_slot)  # [B*S, 1, 1, D]
        if self.estimator is None:
            gain = h.reshape(b * s, -1)[:, self.data_index].abs().square()
            snr_estimate = frame_snr_db(gain.reshape(b, s * d)[:, :k], no)
        else:
            snr_estimate = self._estimate_snr_db(y, b)
        output = ChannelOutput(
            y=x_hat.reshape(b, s * d)[:, :k],
            noise_var=no_eff.reshape(b, s * d)[:, :k].contiguous(),
            snr_estimate_db=snr_estimate,
            pilot_uses=s * self.pilot_res_per_slot,
        )
        err_var = torch.broadcast_to(err_var, h_hat.shape)[:, 0, 0, 0, 0]
        return OFDMFrame(output, h[:, 0, 0, 0, 0], h_hat[:, 0, 0, 0, 0], err_var, s)

    def _estimate_snr_db(self, y: torch.Tensor, batch: int) -> torch.Tensor:
        """Frame SNR estimate ``[B]`` from the pilot REs of the received grids ``y``."""
        y = self.remove_nulled(y).reshape(y.shape[0], -1)  # [B*S, N*M]
        z = pilot_observations(y[:, self.pilot_index], self.pilots)
        # Kronecker pilots fill whole OFDM symbols: [B*S, pilot symbols, M] -> windows along M.
        z = windows(z.reshape(y.shape[0], -1, self.rg.num_effective_subcarriers), self.snr_window)
        return estimate_snr_db(z.reshape(batch, -1, self.snr_window), degree=SNR_DEGREE)
