"""Every built-in scheme's YAML entry (config class), declared in the scheme registry.

The config classes live here, apart from their schemes, so that reading and validating a
scenario imports no torch, Sionna or diffusers: each class names its implementation by path
(``@SCHEMES.declare("linksim.schemes.softcast:SoftCast")``), imported when the scheme is built.
Declaration order is the registry's order (listings, ``accepted:`` in messages).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, ClassVar, Literal

from pydantic import Field, ValidationInfo, field_validator, model_validator

from linksim.codecs.catalogue import CODECS
from linksim.digital.catalogue import BLER_TABLES, LDPC_DECODERS, MCS_TABLE, MODULATION_BITS, Mcs
from linksim.inputs import InputFile
from linksim.registry import Registry
from linksim.schema import StrictModel, TypedConfig
from linksim.zoo import (DEEPJSCC_KIND, DIFFUSION_KIND, MAP_DIFFUSION_KIND, SPADE_KIND, check_checkpoint_reference,
                         checkpoint_files)

if TYPE_CHECKING:
    from linksim.schemes.base import Scheme

SCHEMES: Registry[Scheme] = Registry("scheme")
"""Every scheme by its config's ``type``: a built-in one is declared on its config below; an
extension decorates its :class:`~linksim.schemes.base.Scheme` subclass with ``@SCHEMES.register``."""

HINDSIGHT_METRIC = "psnr"
"""What an oracle scheme's best candidate maximises by default (``Scheme.hindsight_metric``)."""


class SchemeConfig(TypedConfig):
    """Base of every scheme's YAML entry; subclasses add ``type: Literal[...]`` and options."""

    # Per-image columns the scheme adds that are summarised and plottable like metrics.
    reported_columns: ClassVar[tuple[str, ...]] = ()
    # Sends the images' label maps (LinkState.labels): needs a dataset with labels.
    needs_labels: ClassVar[bool] = False

    def required_metrics(self) -> list[str]:
        """Metrics the scenario must compute for this scheme (e.g. an oracle's selection metric)."""
        return []


@SCHEMES.declare("linksim.schemes.softcast:SoftCast")
class SoftCastConfig(SchemeConfig):
    """``{type: softcast, chunks_per_side: 8}``: the DCT plane of each colour channel is cut
    into ``chunks_per_side x chunks_per_side`` chunks."""

    type: Literal["softcast"] = "softcast"
    chunks_per_side: int = Field(8, ge=1, le=256)


@SCHEMES.declare("linksim.schemes.deepjscc:DeepJSCCScheme")
class DeepJSCCConfig(SchemeConfig):
    """``{type: deepjscc, checkpoint: cifar10-deepjscc-v1}`` (a zoo name or a .safetensors path)."""

    type: Literal["deepjscc"] = "deepjscc"
    checkpoint: Annotated[str, InputFile(checkpoint_files)] = "cifar10-deepjscc-v1"

    @field_validator("checkpoint")
    @classmethod
    def _exists(cls, value: str) -> str:
        check_checkpoint_reference(value, DEEPJSCC_KIND)
        return value


CodecName = Literal[tuple(CODECS)]  # type: ignore[valid-type]


def bler_table_files(name: str) -> list[Path]:
    """The CSV(s) an ``mcs.table`` value stands for: every shipped table for ``auto`` (which one
    a point uses depends on its channel), the shipped file of a name, or the path itself."""
    tables = Path(__file__).parents[1] / "digital" / "tables"
    if name == "auto":
        return [tables / f"{table}.csv" for table in sorted(BLER_TABLES)]
    return [tables / f"{name}.csv"] if name in BLER_TABLES else [Path(name)]


class McsConfig(StrictModel):
    """``mcs: {policy: adaptive, target_bler: 0.1}``; ``fixed`` also needs ``index`` (a TS 38.214
    Table 5.1.3.1-2 MCS) or ``modulation`` and ``code_rate`` (any code)."""

    policy: Literal["fixed", "adaptive", "oracle"] = "adaptive"
    index: int | None = Field(None, ge=0, le=len(MCS_TABLE) - 1)
    modulation: Literal["qpsk", "16qam", "64qam", "256qam"] | None = None
    code_rate: float | None = None
    target_bler: float = Field(0.1, gt=0, lt=1)
    # adaptive: "auto" (the point's channel's calibration, else AWGN's), a shipped one, or a CSV
    table: Annotated[str, InputFile(bler_table_files)] = "auto"
    ldpc_iterations: int = Field(20, ge=1)
    # LDPC decoder: Sionna's BP (any device) or the compiled CPU one; auto = fast on a CPU
    decoder: Literal[LDPC_DECODERS] = "auto"  # type: ignore[valid-type]

    @field_validator("code_rate", mode="before")
    @classmethod
    def _fraction(cls, value: object) -> object:
        return float(Fraction(value)) if isinstance(value, str) else value

    @field_validator("table")
    @classmethod
    def _known_table(cls, value: str) -> str:
        if value != "auto" and value not in BLER_TABLES and not Path(value).is_file():
            raise ValueError(f"no BLER table '{value}': accepted auto, {', '.join(BLER_TABLES)}, or a CSV file "
                             "written by linksim calibrate-mcs")
        return value

    @model_validator(mode="after")
    def _fixed_names_an_mcs(self) -> McsConfig:
        if self.policy == "fixed":
            self.fixed_mcs()
        return self

    def fixed_mcs(self) -> Mcs:
        """The MCS of ``policy: fixed``: table entry ``index``, or the code ``modulation`` +
        ``code_rate`` (the table entry if one matches); ValueError if neither is given."""
        if self.index is not None:
            return MCS_TABLE[self.index]
        if self.modulation is None or self.code_rate is None:
            raise ValueError("mcs.policy 'fixed' needs mcs.index (0-27, TS 38.214 Table 5.1.3.1-2) "
                             "or mcs.modulation and mcs.code_rate")
        if not 0.0 < self.code_rate < 1.0:
            raise ValueError(f"mcs.code_rate must be in (0, 1), got {self.code_rate:.4g}")
        bits = MODULATION_BITS[self.modulation.upper()]
        for mcs in MCS_TABLE:
            if mcs.bits_per_symbol == bits and abs(mcs.code_rate - self.code_rate) < 1e-4:
                return mcs
        return Mcs(bits, self.code_rate)


@SCHEMES.declare("linksim.schemes.digital:DigitalScheme")
class DigitalConfig(SchemeConfig):
    """``{type: digital, source_codec: hevc, mcs: {policy: adaptive}}``."""

    type: Literal["digital"] = "digital"
    reported_columns: ClassVar[tuple[str, ...]] = ("decoded",)
    source_codec: CodecName = "hevc"
    mcs: McsConfig = Field(default_factory=McsConfig)

    def required_metrics(self) -> list[str]:
        return [HINDSIGHT_METRIC] if self.mcs.policy == "oracle" else []

    @property
    def label(self) -> str:
        if self.name:
            return self.name
        suffix = " (oracle MCS)" if self.mcs.policy == "oracle" else f" ({self.mcs.policy} MCS)"
        return f"{self.source_codec.upper()}+LDPC{suffix}"


@SCHEMES.declare("linksim.schemes.digital:CapacityBound")
class CapacityConfig(SchemeConfig):
    """``{type: capacity, source_codec: hevc}``: the codec at channel capacity, error-free (a bound)."""

    type: Literal["capacity"] = "capacity"
    reported_columns: ClassVar[tuple[str, ...]] = ("decoded",)
    source_codec: CodecName = "hevc"

    @property
    def label(self) -> str:
        return self.name or f"{self.source_codec.upper()}+capacity (bound)"


@SCHEMES.declare("linksim.schemes.diffusion:DiffusionScheme")
class DiffusionConfig(SchemeConfig):
    """``{type: diffusion, checkpoint: cifar10-diffusion-v2, sampler: ddim, steps: 3, strength: 0.3, eta: 0, guidance: 0}``.

    ``deepjscc_checkpoint`` defaults to the DeepJSCC checkpoint the denoiser was trained on.
    """

    type: Literal["diffusion"] = "diffusion"
    checkpoint: Annotated[str, InputFile(checkpoint_files)] = "cifar10-diffusion-v2"
    deepjscc_checkpoint: Annotated[str | None, InputFile(checkpoint_files)] = None
    sampler: Literal["ddim", "dpm-solver"] = "ddim"
    # The defaults are the best setting for cifar10-diffusion-v1 (scenarios/diffusion-sampler-tuning.yaml),
    # the sampler cifar10-diffusion-v2 was then fine-tuned through.
    steps: int = Field(3, ge=1)
    strength: float = Field(0.3, gt=0, le=1)
    eta: float = Field(0.0, ge=0, le=1)
    # > 0: posterior sampling with the channel likelihood (DPS / DiffCom), this step scale.
    guidance: float = Field(0.0, ge=0)

    @field_validator("checkpoint", "deepjscc_checkpoint")
    @classmethod
    def _exists(cls, value: str | None, info: ValidationInfo) -> str | None:
        if value is not None:
            check_checkpoint_reference(value, DIFFUSION_KIND if info.field_name == "checkpoint" else DEEPJSCC_KIND)
        return value

    @model_validator(mode="after")
    def _ddim_only_options(self) -> DiffusionConfig:
        for field in ("eta", "guidance"):
            if getattr(self, field) > 0 and self.sampler != "ddim":
                raise ValueError(f"{field} applies to the ddim sampler only (sampler: {self.sampler})")
        return self


class MapReceiverOptions(StrictModel):
    """``checkpoint`` (a map-conditioned denoiser: zoo name or path), ``sampler``, ``steps``.
    A scheme with these options sends label maps (``needs_labels``)."""

    needs_labels: ClassVar[bool] = True
    checkpoint: Annotated[str, InputFile(checkpoint_files)] = "camvid-map-diffusion-v1"
    sampler: Literal["ddim", "dpm-solver"] = "ddim"
    steps: int = Field(20, ge=1)

    @field_validator("checkpoint")
    @classmethod
    def _exists(cls, value: str) -> str:
        check_checkpoint_reference(value, MAP_DIFFUSION_KIND)
        return value


@SCHEMES.declare("linksim.schemes.gesco:GescoScheme")
class GescoConfig(MapReceiverOptions, SchemeConfig):
    """``{type: gesco, checkpoint: camvid-map-diffusion-v1, steps: 20}``."""

    type: Literal["gesco"] = "gesco"
    reported_columns: ClassVar[tuple[str, ...]] = ("map_accuracy",)
    map_factor: int | None = Field(None, ge=1)  # None: the finest that fits the channel uses


class MapDigitalConfig(DigitalConfig):
    """The options both schemes add to the digital baseline's: ``map_factor`` (an integer, or
    ``auto``: the finest map that fits); they send label maps."""

    needs_labels: ClassVar[bool] = True
    map_factor: Annotated[int, Field(ge=1, le=255)] | Literal["auto"] = 1

    @field_validator("mcs")
    @classmethod
    def _no_oracle(cls, value: McsConfig) -> McsConfig:
        if value.policy == "oracle":
            raise ValueError("a semantic-map scheme sends with a fixed or adaptive MCS (policy oracle is not supported)")
        return value


@SCHEMES.declare("linksim.schemes.spic:SpicScheme")
class SpicConfig(MapReceiverOptions, MapDigitalConfig):
    """``{type: spic, checkpoint: camvid-map-diffusion-v1, mcs: {policy: adaptive}, map_factor: 1}``."""

    type: Literal["spic"] = "spic"  # type: ignore[assignment]

    @property
    def label(self) -> str:
        return self.name or f"SPIC ({self.mcs.policy} MCS)"


@SCHEMES.declare("linksim.schemes.layered_gan:LayeredGanScheme")
class LayeredGanConfig(MapDigitalConfig):
    """``{type: layered-gan, checkpoint: camvid-spade-v1, enhancement_share: 1.0, mcs: {policy: adaptive}}``."""

    type: Literal["layered-gan"] = "layered-gan"  # type: ignore[assignment]
    checkpoint: Annotated[str, InputFile(checkpoint_files)] = "camvid-spade-v1"
    enhancement_share: float = Field(1.0, ge=0, le=1)

    @field_validator("checkpoint")
    @classmethod
    def _exists(cls, value: str) -> str:
        check_checkpoint_reference(value, SPADE_KIND)
        return value

    @property
    def label(self) -> str:
        return self.name or f"layered GAN (enhancement {self.enhancement_share:g}, {self.mcs.policy} MCS)"
