"""Seeding and per-row random streams.

Two levels of randomness:

- :func:`seed_everything` seeds every global generator (Python, NumPy, torch, Sionna) once per
  sweep point, for whatever is drawn per point (a link's fades and feedback errors).
- :class:`RowKeys` gives every row of a batch (an image of a trial, or a frame of a link) its own
  streams, keyed by (point seed, trial, image id) or (point seed, trial, frame) and by the
  consumer's name (``"channel"``, ``"sampler"``...). What a row draws — channel noise and fading,
  a diffusion receiver's starting noise — then depends on its key only, not on the batch it was
  sent in, how many images the run has, the thread count or the executor.

Keys are 63-bit integers from BLAKE2b of the parts, so they are stable across processes,
platforms and Python's hash randomisation. Streams on CPU generators are identical on every
machine; Sionna's channel blocks draw from the generator of their own device, so a CUDA run uses
CUDA Philox streams of the same keys: reproducible on GPUs, but other realisations than on CPU.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

import numpy as np
import torch
from sionna.phy import config as sionna_config

T = TypeVar("T")


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy, torch and Sionna's generators (Sionna also reseeds torch's default)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    sionna_config.seed = seed


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a GPU is visible, else ``"cpu"``; other values unchanged."""
    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    return device


def stream_key(*parts: int | str) -> int:
    """A 63-bit seed from ``parts`` (BLAKE2b of their ``/``-joined text): stable everywhere."""
    digest = hashlib.blake2b("/".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") >> 1


@dataclass(frozen=True)
class RowKeys:
    """One random-stream seed per batch row.

    Attributes:
        seeds: ``B`` seeds, row ``i``'s streams derive from ``seeds[i]`` alone.
    """

    seeds: tuple[int, ...]

    @classmethod
    def of(cls, seed: int, trials: Sequence[int], items: Sequence[int | str]) -> RowKeys:
        """Keys of rows ``(trials[i], items[i])`` (an image id or a frame number) of a point seeded ``seed``."""
        return cls(tuple(stream_key(seed, t, item) for t, item in zip(trials, items, strict=True)))

    def __len__(self) -> int:
        return len(self.seeds)

    def stream(self, name: str) -> RowKeys:
        """The keys of the consumer ``name``: independent of every other consumer's streams."""
        return RowKeys(tuple(stream_key(seed, name) for seed in self.seeds))

    def select(self, index: Sequence[int]) -> RowKeys:
        """The keys of rows ``index`` (in that order)."""
        return RowKeys(tuple(self.seeds[i] for i in index))

    def generators(self, device: str | torch.device = "cpu") -> list[torch.Generator]:
        """A generator per row on ``device`` (e.g. for diffusers' per-row ``randn_tensor``)."""
        return [torch.Generator(device).manual_seed(seed) for seed in self.seeds]

    def randn(self, *shape: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """Standard normal numbers ``[B, *shape]`` on CPU, row ``i`` from ``seeds[i]`` (complex
        dtypes: unit variance, ``1/2`` per real dimension, as :func:`torch.randn`)."""
        return torch.stack([torch.randn(shape, generator=g, dtype=dtype) for g in self.generators()])


@contextmanager
def seeded_streams(seed: int, device: str) -> Iterator[None]:
    """Run a block with Sionna's generator of ``device`` and torch's default CPU generator both
    seeded ``seed``, and restore both afterwards (so per-point draws are not disturbed)."""
    sionna_generator = sionna_config.torch_rng(device)
    saved_sionna, saved_torch = sionna_generator.get_state(), torch.random.get_rng_state()
    sionna_generator.manual_seed(seed)
    torch.default_generator.manual_seed(seed)  # the CPU one only: torch.manual_seed would also reseed CUDA's
    try:
        yield
    finally:
        sionna_generator.set_state(saved_sionna)
        torch.random.set_rng_state(saved_torch)


def per_row(keys: RowKeys, device: str, function: Callable[..., T], *batched: torch.Tensor) -> list[T]:
    """Call ``function`` once per row with that row's slices of ``batched`` under
    :func:`seeded_streams` of its key; return the ``B`` results.

    Every tensor in ``batched`` has a first dimension of ``B`` times a per-row size (e.g. ``[B, K]``
    symbols, or ``[B * S, ...]`` slot channels in sample-major order) and is split accordingly.
    The loop is over batch rows, not symbols: each call is still vectorised over the row's symbols.
    """
    rows = len(keys)
    for tensor in batched:
        if tensor.shape[0] % rows:
            raise ValueError(f"per_row: a tensor of first dimension {tensor.shape[0]} does not split into {rows} rows")
    pieces = [tensor.split(tensor.shape[0] // rows) for tensor in batched]
    results = []
    for i, seed in enumerate(keys.seeds):
        with seeded_streams(seed, device):
            results.append(function(*(piece[i] for piece in pieces)))
    return results


def row_generators(keys: RowKeys | None, stream: str) -> torch.Generator | list[torch.Generator]:
    """Generators for a sampler's noise: one per row from ``keys.stream(stream)`` (a row's draws
    then do not depend on its batch), or, without keys, one seeded from the global RNG (a run is
    still reproducible)."""
    if keys is not None:
        return keys.stream(stream).generators()
    return torch.Generator().manual_seed(int(torch.randint(2**62, (1,)).item()))
