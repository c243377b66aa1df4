"""Scenario files: the YAML schema, its validation with precise errors, and grid expansion.

A scenario declares images (``dataset``), one or more channels, the ``schemes`` to compare and the
``sweep`` axes; the grid is the cartesian product of the axes and the schemes. Each point gets
a random seed derived from the scenario seed and the point's coordinates only, so results do
not depend on the order in which points run.
"""

from __future__ import annotations

import hashlib
import itertools
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal, TypeVar, Union

import numpy as np
import yaml
from pydantic import Field, PrivateAttr, ValidationError, ValidationInfo, field_validator, model_validator

from linksim.channels import CHANNELS
from linksim.dataset_catalogue import available_datasets, labelled_datasets, native_size_datasets, size_text
from linksim.errors import ScenarioError
from linksim.inputs import InputFile, input_digests
from linksim.link import FixedPolicyConfig, LinkConfig, RatePolicyConfig
from linksim.metric_catalogue import available_metrics, label_metrics, region_metrics
from linksim.references import reference_rows
from linksim.roi import RoiConfig
from linksim.schema import FieldError, StrictModel, parse_ratio
from linksim.schemes import SCHEMES

if TYPE_CHECKING:
    from linksim.data import ImageSet

# Only torch-free modules are imported above (configs, catalogues), so that reading and validating
# a scenario (``linksim validate``) loads no torch, Sionna, diffusers or pandas; what runs a
# scenario is imported where it is used.

SchemeEntry = Annotated[
    Union[SCHEMES.config_classes()],  # type: ignore[valid-type]
    Field(discriminator="type"),
]
ChannelEntry = Annotated[
    Union[CHANNELS.config_classes()],  # type: ignore[valid-type]
    Field(discriminator="type"),
]


class DatasetConfig(StrictModel):
    """Which images to send. ``num_images`` picks a seeded random subset (``subset_seed``).

    ``image_size``: the side of square images (shorter side resized, centre crop; for ``camvid``
    the height, the width keeping the 4:3 aspect), or
    ``native`` (no resize; ``image_folder`` and ``kodak``). ``crop``: the centre ``crop`` x
    ``crop`` (or ``[h, w]``) of every image after that.
    """

    name: str
    image_size: Annotated[int, Field(gt=0, le=8192)] | Literal["native"] = 32
    num_images: int | None = Field(None, gt=0)
    split: str = "test"
    root: Annotated[str | None, InputFile()] = None
    subset_seed: int = 0
    crop: Annotated[int, Field(gt=0, le=8192)] | tuple[Annotated[int, Field(gt=0, le=8192)], Annotated[int, Field(gt=0, le=8192)]] | None = None

    @field_validator("root")
    @classmethod
    def _root_exists(cls, value: str | None) -> str | None:
        # checked here so that `validate` refuses what `run` would (datasets that download
        # take no root; one that is given must exist)
        if value is not None and not Path(value).expanduser().exists():
            raise ValueError(f"{value} does not exist")
        return value

    @model_validator(mode="after")
    def _native_size_exists(self) -> "DatasetConfig":
        if self.image_size == "native" and self.name not in native_size_datasets():
            raise ValueError(f"image_size: {self.name} has no native size; give a number "
                             f"(native size: {', '.join(native_size_datasets())})")
        return self

    @property
    def size(self) -> int | None:
        """``image_size`` for :func:`linksim.data.load_dataset` (``None``: native)."""
        return None if self.image_size == "native" else self.image_size

    @property
    def crop_size(self) -> tuple[int, int] | None:
        """``crop`` as ``(h, w)``."""
        return (self.crop, self.crop) if isinstance(self.crop, int) else self.crop

    def load(self) -> "ImageSet":
        """The images this entry names (see :func:`linksim.data.load_dataset`)."""
        from linksim.data import load_dataset

        return load_dataset(self.name, image_size=self.size, num_images=self.num_images, split=self.split,
                            root=self.root, subset_seed=self.subset_seed, crop=self.crop_size)

    def describe(self) -> str:
        """``24 kodak images (native size)``-style text for logs and ``validate``."""
        size = size_text(self.name, self.size)
        if self.crop_size:
            size += f", centre {self.crop_size[0]}x{self.crop_size[1]}"
        return f"{f'{self.num_images} ' if self.num_images else ''}{self.name} images ({size})"

    @field_validator("name")
    @classmethod
    def _known(cls, name: str) -> str:
        if name not in available_datasets():
            raise ValueError(f"unknown dataset '{name}' (accepted: {', '.join(available_datasets())})")
        return name


MAX_AXIS_VALUES = 10_000  # per sweep axis; a grid's total is bounded by the scenario's max_points


class Range(StrictModel):
    """An inclusive arithmetic range ``{start, stop, step}``."""

    start: float
    stop: float
    step: float = Field(gt=0)

    @model_validator(mode="after")
    def _non_empty(self) -> "Range":
        if self.stop < self.start:
            raise ValueError(f"empty range: start {self.start} > stop {self.stop}")
        count = (self.stop - self.start) / self.step + 1
        if count > MAX_AXIS_VALUES:  # counted, not materialised
            raise ValueError(f"{count:.3g} values; a sweep axis takes at most {MAX_AXIS_VALUES}")
        return self

    def values(self) -> list[float]:
        count = int(np.floor((self.stop - self.start) / self.step + 1e-9)) + 1
        return [round(self.start + i * self.step, 10) for i in range(count)]


class SweepConfig(StrictModel):
    """The sweep axes. ``bandwidth_ratio`` takes fractions such as ``1/12`` or floats in (0, 1]."""

    snr_db: list[float]
    bandwidth_ratio: list[float]
    roi_weight: list[float] = Field(default_factory=lambda: [0.0])
    # Axes of a time-varying link (need a link: block): terminal speed [m/s], feedback delay [frames].
    speed: list[float] | None = None
    delay_frames: list[int] | None = None

    @field_validator("speed", "delay_frames")
    @classmethod
    def _non_negative_link_axes(cls, value: list[float] | None, info: ValidationInfo) -> list[float] | None:
        if value is not None and any(v < 0 for v in value):
            what = "speeds must be >= 0 m/s" if info.field_name == "speed" else "feedback delays must be >= 0 frames"
            raise ValueError(f"{what}, got {value}")
        return value

    @field_validator("snr_db", mode="before")
    @classmethod
    def _snr_range(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        try:
            return Range.model_validate(value).values()
        except ValidationError as exc:
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise ValueError(f"{where + ': ' if where else ''}{first['msg'].removeprefix('Value error, ')}") from None

    @field_validator("bandwidth_ratio", mode="before")
    @classmethod
    def _ratios(cls, value: Any) -> Any:
        values = value if isinstance(value, list) else [value]
        return [parse_ratio(v) for v in values]

    @field_validator("snr_db", "bandwidth_ratio", "roi_weight", "speed", "delay_frames")
    @classmethod
    def _non_empty_unique(cls, value: Any) -> Any:
        values = value
        if values is None:
            return value
        if not values:
            raise ValueError("needs at least one value")
        if len(set(values)) != len(values):
            raise ValueError(f"values must be unique, got {values}")
        return value

    @field_validator("roi_weight")
    @classmethod
    def _non_negative(cls, value: list[float]) -> list[float]:
        if any(w < 0 for w in value):
            raise ValueError(f"ROI weights must be >= 0, got {value}")
        return value


class MonteCarloConfig(StrictModel):
    """``trials`` noise realisations per image and point; ``batch_size`` images per forward pass."""

    trials: int = Field(1, ge=1)
    batch_size: int = Field(64, ge=1)


class ExamplesConfig(StrictModel):
    """``output.examples``: a picture of originals and every scheme's reconstructions at a few
    SNRs (``examples.png``), drawn after the sweep."""

    num_images: int = Field(6, ge=1, le=32)
    snr_db: list[float] | None = None  # default: the lowest, a middle and the highest SNR of the sweep
    crop: int | None = Field(None, ge=8, le=1024)  # show the centre crop x crop pixels at 1:1
    bandwidth_ratio: float | None = None  # default: the largest ratio of the sweep

    @field_validator("bandwidth_ratio", mode="before")
    @classmethod
    def _ratio(cls, value: Any) -> Any:
        return None if value is None else parse_ratio(value)


class OutputConfig(StrictModel):
    """Where results go, which ``<metric>_vs_snr`` plots to draw and whether to draw examples."""

    dir: str | None = None
    plots: list[str] | None = None
    examples: ExamplesConfig | None = None


class ExecutionConfig(StrictModel):
    """``execution: {executor: ray, address: auto, workers: 4, gpus_per_worker: 1, threads_per_worker: 2}``.

    ``workers`` defaults to as many as the cluster's CPUs allow at ``threads_per_worker`` each
    (and, with ``gpus_per_worker``, its GPUs). Not part of any point's cache key: where a point
    ran does not change its rows.
    """

    executor: Literal["local", "ray"] = "local"
    address: str | None = None  # ray: "auto" or HOST:PORT of a running cluster; unset starts a local one
    workers: int | None = Field(None, ge=1)
    gpus_per_worker: float = Field(0.0, ge=0)
    threads_per_worker: int = Field(1, ge=1)



class Scenario(StrictModel):
    """A complete, validated scenario (see ``scenarios/quickstart.yaml`` for an example)."""

    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]*$", max_length=128)  # it names folders and files
    seed: int = Field(0, ge=0, lt=2**63)
    dataset: DatasetConfig
    roi: RoiConfig | None = None
    channel: list[ChannelEntry] = Field(default_factory=lambda: [CHANNELS["awgn"].config_class()], min_length=1)
    schemes: list[SchemeEntry] = Field(min_length=1)
    sweep: SweepConfig
    monte_carlo: MonteCarloConfig = Field(default_factory=MonteCarloConfig)
    metrics: list[str] = Field(default_factory=lambda: ["psnr", "ms_ssim", "lpips"], min_length=1)
    output: OutputConfig = Field(default_factory=OutputConfig)
    device: Literal["auto", "cpu", "cuda"] = "auto"
    link: LinkConfig | None = None
    rate_policy: list[RatePolicyConfig] = Field(default_factory=lambda: [FixedPolicyConfig()], min_length=1)
    # Published points drawn on the <metric>_vs_snr plots (linksim.references); plots only, so
    # not part of any point's cache key.
    references: list[str] = Field(default_factory=list)
    execution: ExecutionConfig = Field(default_factory=ExecutionConfig)  # where points run; not in cache keys
    max_points: int = Field(100_000, ge=1)  # a grid larger than this is refused before anything runs
    _digests: dict[str, str] | None = PrivateAttr(None)

    @field_validator("channel", "rate_policy", mode="before")
    @classmethod
    def _one_or_more(cls, value: Any) -> Any:
        return [value] if isinstance(value, dict) else value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        for name in names:
            if name not in available_metrics():
                raise ValueError(f"unknown metric '{name}' (accepted: {', '.join(available_metrics())})")
        return names

    @field_validator("references")
    @classmethod
    def _readable_references(cls, entries: list[str]) -> list[str]:
        for entry in entries:  # read now, so that a bad file fails validate, not the plots after a run
            try:
                reference_rows(entry)
            except ScenarioError as exc:
                raise ValueError(str(exc)) from None
        return entries

    @model_validator(mode="after")
    def _consistent(self) -> "Scenario":
        for what, entries in (("scheme", self.schemes), ("channel", self.channel), ("rate_policy", self.rate_policy)):
            labels = [entry.label for entry in entries]
            duplicates = sorted({x for x in labels if labels.count(x) > 1})
            if duplicates:
                raise FieldError(({"scheme": "schemes"}.get(what, what),),
                                 f"{what} names must be unique; give each a distinct 'name' (repeated: {', '.join(duplicates)})")
        if self.roi is None:
            needs_roi = [m for m in self.metrics if m in region_metrics()]
            if needs_roi:
                raise FieldError(("metrics",), f"{', '.join(needs_roi)} need ROI masks: add a roi: block "
                                 "(source: centre | saliency | mask_folder)")
            if any(w > 0 for w in self.sweep.roi_weight):
                raise FieldError(("sweep", "roi_weight"), "a weight > 0 needs ROI masks: add a roi: block "
                                 "(source: centre | saliency | mask_folder)")
        if self.roi is not None and self.roi.needs_labels and self.dataset.name not in labelled_datasets():
            raise FieldError(("roi",), f"source {self.roi.source} with map: labels needs label maps, which dataset "
                             f"'{self.dataset.name}' has none of (datasets with labels: {', '.join(labelled_datasets())}); "
                             "or set map: predicted")
        needs_labels = [m for m in self.metrics if m in label_metrics()]
        if needs_labels and self.dataset.name not in labelled_datasets():
            raise FieldError(("metrics",), f"{', '.join(needs_labels)} need label maps, and dataset "
                             f"'{self.dataset.name}' has none (datasets with labels: {', '.join(labelled_datasets())})")
        for i, scheme in enumerate(self.schemes):
            if scheme.needs_labels and self.dataset.name not in labelled_datasets():
                raise FieldError(("schemes", i), f"scheme '{scheme.label}' sends label maps, which dataset "
                                 f"'{self.dataset.name}' has none of (datasets with labels: {', '.join(labelled_datasets())})")
            missing = [m for m in scheme.required_metrics() if m not in self.metrics]
            if missing:
                raise FieldError(("schemes", i), f"scheme '{scheme.label}' needs metrics {', '.join(missing)} in metrics:")
        self._check_link()
        if self.point_count() > self.max_points:
            raise FieldError(("sweep",), f"the grid has {self.point_count():,} points, above max_points ({self.max_points:,}); "
                             "shrink the sweep, or raise max_points if you mean it")
        reported = [c for scheme in self.schemes for c in scheme.reported_columns]
        accepted = [f"{m}_vs_snr" for m in dict.fromkeys(self.metrics + reported)]
        if self.link is not None:
            accepted += [f"{m}_vs_ratio" for m in self.metrics] + [f"{m}_time_trace" for m in self.metrics]
        for i, plot in enumerate(self.output.plots or []):
            if plot not in accepted:
                raise FieldError(("output", "plots", i), f"unknown plot '{plot}' (accepted: {', '.join(accepted)})")
        return self

    def _check_link(self) -> None:
        if self.link is None:
            adaptive = [p.label for p in self.rate_policy if not isinstance(p, FixedPolicyConfig)]
            needs_link = (["sweep.speed"] if self.sweep.speed else []) + (["sweep.delay_frames"] if self.sweep.delay_frames else []) \
                + [f"rate_policy '{label}'" for label in adaptive]
            if needs_link:
                where = ("sweep",) if needs_link[0].startswith("sweep") else ("rate_policy",)
                raise FieldError(where, f"{needs_link[0]} needs a time-varying link: add a link: block (link: {{frames: N}})")
            return
        if self.roi is None:
            for policy in self.rate_policy:
                if any(w > 0 for w in getattr(policy, "roi_weights", None) or []):
                    raise ValueError(f"rate_policy '{policy.label}': roi_weights > 0 need ROI masks: add a roi: block "
                                     "(source: centre | saliency | mask_folder)")
        for i, channel in enumerate(self.channel):
            variation = channel.time_variation
            if variation is None:
                able = [c().type for c in CHANNELS.config_classes() if c().time_variation is not None]
                raise FieldError(("channel", i), f"channel '{channel.label}' cannot carry a time-varying link (link:); "
                                 f"channel types that can: {', '.join(able)} (ofdm: with a TDL/CDL model)")
            if variation == "continuous" and self.link.snr_trace is not None:
                raise FieldError(("link", "snr_trace"), "a trace sets the SNR of flat frames; channel "
                                 f"'{channel.label}' evolves by itself (use channel type awgn with a trace)")

    # -- derived -----------------------------------------------------------------------------
    @property
    def output_dir(self) -> Path:
        return Path(self.output.dir or f"results/{self.name}")

    @property
    def plots(self) -> list[str]:
        if self.output.plots is not None:
            return self.output.plots
        if self.link is not None:
            return [f"{m}_vs_ratio" for m in self.metrics] + [f"{self.metrics[0]}_time_trace"]
        return [f"{m}_vs_snr" for m in self.metrics]

    def with_overrides(self, *, out: str | None = None, num_images: int | None = None,
                       execution: dict[str, Any] | None = None) -> "Scenario":
        """A copy with CLI overrides applied (and validated); ``execution`` fields replace the
        scenario's ``execution:`` block field by field."""
        data = self.model_dump(mode="json", exclude_none=True)
        if out is not None:
            data.setdefault("output", {})["dir"] = out
        if num_images is not None:
            data["dataset"]["num_images"] = num_images
        if execution:
            data["execution"] = {**data.get("execution", {}), **execution}
        return parse_scenario(data, source="command line overrides")

    def point_count(self) -> int:
        """How many points :meth:`grid` has, counted without building it."""
        sweep = self.sweep
        per_ratio = len(self.schemes) * len(self.channel) * len(sweep.roi_weight) * len(sweep.snr_db)
        if self.link is None:
            return per_ratio * len(sweep.bandwidth_ratio)
        # fixed policies sweep the ratios; an adaptive one picks them per frame (one point)
        ratios = sum(len(sweep.bandwidth_ratio) if isinstance(p, FixedPolicyConfig) else 1 for p in self.rate_policy)
        return per_ratio * ratios * len(sweep.speed or [0]) * len(sweep.delay_frames or [0])

    def grid(self) -> list["SweepPoint"]:
        """All points: schemes x channels x bandwidth ratio x ROI weight x SNR, in a stable order;
        with a ``link:`` block also x rate policy x speed x feedback delay, where an adaptive
        policy's points have ``bandwidth_ratio = 0`` (the policy picks the ratio per frame)."""
        if self.link is None:
            axes = itertools.product(
                self.schemes, self.channel, self.sweep.bandwidth_ratio, self.sweep.roi_weight, self.sweep.snr_db
            )
            return [
                SweepPoint(scheme=s.label, channel=c.label, snr_db=float(snr),
                           bandwidth_ratio=float(r), roi_weight=float(w))
                for s, c, r, w, snr in axes
            ]
        speeds = self.sweep.speed or [self.link.speed]
        delays = self.sweep.delay_frames or [self.link.feedback.delay_frames]
        points = []
        for s, c, policy in itertools.product(self.schemes, self.channel, self.rate_policy):
            ratios = self.sweep.bandwidth_ratio if isinstance(policy, FixedPolicyConfig) else [0.0]
            for r, w, snr, speed, delay in itertools.product(ratios, self.sweep.roi_weight, self.sweep.snr_db, speeds, delays):
                points.append(SweepPoint(scheme=s.label, channel=c.label, snr_db=float(snr), bandwidth_ratio=float(r),
                                         roi_weight=float(w), policy=policy.label, speed=float(speed),
                                         delay_frames=int(delay)))
        return points

    def input_digests(self) -> dict[str, str]:
        """SHA-256 of every file the scenario names, by field path (``"schemes[1].checkpoint"``,
        ``"dataset.root"``...; :mod:`linksim.inputs`), hashed once per scenario object."""
        if self._digests is None:
            self._digests = input_digests(self)
        return self._digests

    def scheme_config(self, label: str) -> Any:
        return next(s for s in self.schemes if s.label == label)

    def channel_config(self, label: str) -> Any:
        return next(c for c in self.channel if c.label == label)

    def policy_config(self, label: str) -> Any:
        return next(p for p in self.rate_policy if p.label == label)


@dataclass(frozen=True)
class SweepPoint:
    """One point of the grid; its fields become columns of every result row."""

    scheme: str
    channel: str
    snr_db: float
    bandwidth_ratio: float
    roi_weight: float
    # Coordinates of a time-varying link only (None otherwise, and then left out of keys and rows).
    policy: str | None = None
    speed: float | None = None
    delay_frames: int | None = None

    def coordinates(self) -> dict[str, Any]:
        """The fields that are set, in order (the link's only for link points)."""
        return {k: v for k, v in asdict(self).items() if v is not None}

    @property
    def key(self) -> str:
        """Canonical text of the coordinates (floats at 10 significant digits)."""
        return "|".join(f"{k}={v:.10g}" if isinstance(v, float) else f"{k}={v}" for k, v in self.coordinates().items())

    def seed(self, scenario_seed: int) -> int:
        """Random seed of this point: a hash of the scenario seed and the coordinates only."""
        return _hash_int(f"{scenario_seed}#{self.key}")

    def link_seed(self, scenario_seed: int) -> int:
        """Seed of a time-varying link's channel evolution and the receiver's SNR estimates: it
        depends on the channel, nominal SNR and speed only, so every scheme, rate policy and
        feedback delay at those faces the same fades (paired comparisons)."""
        return _hash_int(f"{scenario_seed}#link|channel={self.channel}|snr_db={self.snr_db:.10g}|speed={self.speed:.10g}")

    def cache_key(self, scenario: Scenario) -> str:
        """Hash of everything that determines this point's rows, naming its file on disk.

        A change of any input (images, trials, metrics, scheme or channel options, or the
        content of a file they name: checkpoint, MCS table, dataset, masks, SNR trace) gives a
        new key, so a resumed run never reuses rows computed under different settings.
        """
        inputs = {
            "point": self.coordinates(),
            "seed": scenario.seed,
            "dataset": scenario.dataset.model_dump(mode="json"),
            "roi": scenario.roi.model_dump(mode="json") if scenario.roi else None,
            "channel": scenario.channel_config(self.channel).model_dump(mode="json"),
            "scheme": scenario.scheme_config(self.scheme).model_dump(mode="json"),
            "monte_carlo": scenario.monte_carlo.model_dump(mode="json"),
            "metrics": scenario.metrics,
        }
        if scenario.link is not None:
            inputs["link"] = scenario.link.model_dump(mode="json")
            inputs["rate_policy"] = scenario.policy_config(self.policy).model_dump(mode="json")
        # the files of this point's configs only: another scheme's new checkpoint keeps these rows
        own = ("dataset", "roi", "link", f"channel[{_position(scenario.channel, self.channel)}]",
               f"schemes[{_position(scenario.schemes, self.scheme)}]")
        if scenario.link is not None:
            own += (f"rate_policy[{_position(scenario.rate_policy, self.policy)}]",)
        files = {k: v for k, v in scenario.input_digests().items() if k.split(".")[0] in own}
        if files:  # (no key changes for a scenario that names no file)
            inputs["files"] = files
        return hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:16]


def _position(entries: list[Any], label: str) -> int:
    return next(i for i, entry in enumerate(entries) if entry.label == label)


def _hash_int(text: str) -> int:
    return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little") >> 1


# -- loading and error reporting -------------------------------------------------------------
def load_scenario(path: str | Path) -> Scenario:
    """Read and validate a scenario file; raise :class:`ScenarioError` with a one-line message."""
    data, node = read_yaml(path, "scenario file")
    return parse_scenario(data, source=str(path), node=node)


def parse_scenario(data: Any, source: str = "<scenario>", node: yaml.Node | None = None) -> Scenario:
    """Validate already-parsed YAML data (``node`` gives line numbers for error messages)."""
    return validate_yaml_data(Scenario, data, source, node, "scenario")


MAX_YAML_BYTES = 1 << 20  # a scenario is a page of text; this bounds parsing time and memory
MAX_YAML_ALIASES = 100  # aliases expand when validated: nested ones grow exponentially


class _UniqueKeyLoader(yaml.SafeLoader):
    """YAML's safe loader, refusing a key given twice in one mapping (YAML keeps the last silently)
    and more than :data:`MAX_YAML_ALIASES` aliases."""

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        if self.check_event(yaml.AliasEvent):
            self.aliases = getattr(self, "aliases", 0) + 1
            if self.aliases > MAX_YAML_ALIASES:
                raise yaml.composer.ComposerError(None, None, f"more than {MAX_YAML_ALIASES} aliases (*name)",
                                                  self.peek_event().start_mark)
        return super().compose_node(parent, index)

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key '{key}' (given twice in one mapping)", key_node.start_mark)
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def read_yaml(path: str | Path, kind: str) -> tuple[Any, yaml.Node | None]:
    """Parsed data and node tree (for line numbers) of a YAML file; one-line :class:`ScenarioError`."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"{path}: {kind} not found")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ScenarioError(f"{path}: {path.stat().st_size:,} bytes; a {kind} is at most {MAX_YAML_BYTES:,}")
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise ScenarioError(f"{path}:{line}: not UTF-8 text (byte 0x{raw[exc.start]:02x}); save the file as UTF-8") from None
    try:
        return yaml.load(text, Loader=_UniqueKeyLoader), yaml.compose(text, Loader=_UniqueKeyLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = mark.line + 1 if mark else None
        if isinstance(exc, yaml.reader.ReaderError):  # a control character: no mark, a position
            line = text[: exc.position].count("\n") + 1
        where = f"{path}:{line}" if line else str(path)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{where}: malformed YAML: {problem}") from None
    except RecursionError:  # PyYAML parses nested collections recursively
        raise ScenarioError(f"{path}: malformed YAML: collections nested too deeply") from None


ModelT = TypeVar("ModelT", bound=StrictModel)


def validate_yaml_data(model: type[ModelT], data: Any, source: str, node: yaml.Node | None, kind: str) -> ModelT:
    """Validate ``data`` against ``model``; the first error becomes ``file:line: field: message``."""
    if not isinstance(data, dict):
        raise ScenarioError(f"{source}: a {kind} must be a YAML mapping of fields, got {type(data).__name__}")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise ScenarioError(_describe(exc.errors()[0], source, node)) from None


def _describe(error: dict[str, Any], source: str, node: yaml.Node | None) -> str:
    """One line: ``file:line: field.path: message``."""
    loc = list(error["loc"])
    message = error["msg"].removeprefix("Value error, ")
    cause = (error.get("ctx") or {}).get("error")
    if isinstance(cause, FieldError):
        loc += list(cause.loc)
    if error["type"] == "unknown_field":
        loc.append(error["ctx"]["field"])
    elif error["type"] == "union_tag_invalid":
        loc.append(error["ctx"]["discriminator"].strip("'"))
        message = f"unknown type '{error['ctx']['tag']}' (accepted: {error['ctx']['expected_tags']})"
    elif error["type"] == "missing":
        message = "required field is missing"
    path, line = _locate(loc, node)
    where = f"{source}:{line}" if line else source
    return f"{where}: {path or '<top>'}: {message}"


def _locate(loc: list[Any], node: yaml.Node | None) -> tuple[str, int | None]:
    """Map a pydantic error location onto the YAML tree: a display path and a 1-based line.

    Pydantic inserts the union tag (``'softcast'``) into locations inside a discriminated
    union; such parts are dropped from the displayed path.
    """
    parts: list[str] = []
    line = node.start_mark.line + 1 if node is not None else None
    for part in loc:
        if isinstance(part, int):
            if isinstance(node, yaml.MappingNode):
                continue  # a single mapping given where a list is accepted (``channel:``)
            parts.append(f"[{part}]")
            if isinstance(node, yaml.SequenceNode) and part < len(node.value):
                node = node.value[part]
                line = node.start_mark.line + 1
            continue
        if _is_union_tag(part, node):
            continue
        parts.append(("." if parts else "") + str(part))
        entry = _mapping_entry(node, part)
        if entry is None:
            node = None
        else:
            line, node = entry[0].start_mark.line + 1, entry[1]
    return "".join(parts), line


def _mapping_entry(node: yaml.Node | None, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    if isinstance(node, yaml.MappingNode):
        return next(((k, v) for k, v in node.value if k.value == key), None)
    return None


def _is_union_tag(part: str, node: yaml.Node | None) -> bool:
    if node is None:
        return part in SCHEMES or part in CHANNELS
    type_entry = _mapping_entry(node, "type")
    return type_entry is not None and type_entry[1].value == part and _mapping_entry(node, part) is None
