"""The source-codec interface of the digital baselines (e.g. "BPG + LDPC").

A :class:`SourceCodec` compresses one RGB image at a chosen quality into the bytes that the
digital scheme protects with a channel code and transmits. Besides :meth:`SourceCodec.encode`
it offers :meth:`SourceCodec.fit`, which picks the highest quality whose payload fits a bit
budget (the number of information bits the channel code can carry at a given bandwidth ratio
and code rate). A sweep asks for many budgets over the same images, so every codec memoises its
encodings per (image content, quality), and keeps each image's rate curve (payload bits per
quality, as far as it has been measured) after the encodings themselves have been dropped, so
that :meth:`SourceCodec.fit` searches the known curve first and encodes only what it lacks.
"""

from __future__ import annotations

import abc
import hashlib
import math
from collections import OrderedDict
from dataclasses import dataclass
from typing import ClassVar

import numpy as np

ImageKey = tuple[tuple[int, ...], bytes]
"""Identifies an image by its shape and a digest of its pixels."""


@dataclass(frozen=True)
class EncodedImage:
    """One encoding of an image.

    Attributes:
        payload: the bytes that are transmitted and counted (what exactly, is per codec).
        quality: the codec quality parameter used (one of the codec's ``qualities``).
        decoded: uint8 ``[H, W, 3]`` RGB, the codec's own decode of ``payload``; read-only,
            because encodings are cached and shared.
    """

    payload: bytes
    quality: int
    decoded: np.ndarray

    @property
    def bits(self) -> int:
        """Size of the payload in bits (``8 * len(payload)``)."""
        return 8 * len(self.payload)


def check_image(image: np.ndarray) -> np.ndarray:
    """Return ``image`` as a C-contiguous uint8 ``[H, W, 3]`` array, or raise ``ValueError``."""
    array = np.asarray(image)
    if array.dtype != np.uint8 or array.ndim != 3 or array.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] RGB image, got {array.dtype} {list(array.shape)}")
    return np.ascontiguousarray(array)


def image_key(image: np.ndarray) -> ImageKey:
    """Cache key of a checked image: its shape and a 128-bit BLAKE2b digest of its pixels."""
    return image.shape, hashlib.blake2b(image.tobytes(), digest_size=16).digest()


class SourceCodec(abc.ABC):
    """An image codec with a scalar quality knob.

    Subclasses set the class attributes and implement :meth:`_encode`; :meth:`encode` adds input
    checks and the cache. ``qualities`` is ordered so that a higher quality gives (roughly) more
    bytes; it need not be strictly monotone (see :meth:`fit`).

    Args:
        cache_bytes: memory bound of the encoding cache (payloads plus decoded pixels); the least
            recently used encodings are dropped beyond it.
    """

    name: ClassVar[str]
    description: ClassVar[str]
    qualities: ClassVar[range]
    fit_window: ClassVar[int] = 3
    """How many qualities above the search result :meth:`fit` also tries."""
    fit_rate_slope: ClassVar[float] = 0.1
    """Guess of how much ``log2`` of the payload size grows per quality step, used by :meth:`fit`
    to extrapolate from one measured size (any positive value works; a good one saves encodes)."""
    rate_curve_images: ClassVar[int] = 65536
    """How many images' rate curves are kept (a few hundred bytes each); least recently used
    first out."""

    def __init__(self, cache_bytes: int = 256 * 2**20) -> None:
        self._cache: OrderedDict[tuple[ImageKey, int], EncodedImage] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes
        self._rates: OrderedDict[ImageKey, np.ndarray] = OrderedDict()

    def encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        """Encode a uint8 ``[H, W, 3]`` RGB image at ``quality`` (cached)."""
        image = check_image(image)
        if quality not in self.qualities:
            raise ValueError(f"{self.name}: quality {quality} is outside {self.qualities}")
        return self._encode_cached(image, image_key(image), quality)

    def fit(self, image: np.ndarray, budget_bits: int) -> EncodedImage | None:
        """The encoding of the highest quality whose payload has at most ``budget_bits`` bits.

        A safeguarded interpolation search over the quality index finds the boundary between
        fitting and non-fitting qualities, assuming the size grows with quality: the lowest
        quality is measured first (it answers "nothing fits"), then each probe is the quality
        where ``log2`` of the size, interpolated linearly between the bracket's ends (the highest
        probe that fits and the lowest that does not; extrapolated with ``fit_rate_slope`` while
        no probe was too large), crosses the budget; a probe that fails to halve the bracket twice
        in a row is followed by a bisection step. Sizes measured before, by any call on the same
        image, are used without encoding again (the rate curve outlives the encoding cache), so
        a sweep over many budgets encodes each image at few qualities.

        Because the size is not strictly monotone (rate control can give a slightly smaller file
        at a higher quality), the ``fit_window`` qualities just above the boundary are tried too.
        The result is the highest fitting quality among those this search visits: the true
        optimum whenever the size is monotone, or non-monotone only within ``fit_window`` steps
        of the boundary. The search always starts from the whole quality range and its probes
        depend on the sizes only, never on which sizes happen to be known already, so the result
        is a function of the image and the budget alone: the same in every process, batch and
        order of calls.

        Args:
            image: uint8 ``[H, W, 3]`` RGB.
            budget_bits: number of payload bits available.

        Returns:
            The encoding, or ``None`` when even the lowest quality does not fit.
        """
        image = check_image(image)
        key = image_key(image)
        qualities, count = self.qualities, len(self.qualities)

        def size(index: int) -> int:
            known = self._rate_curve(key)[index]
            return int(known) if known else self._encode_cached(image, key, qualities[index]).bits

        if size(0) > budget_bits:
            return None
        low, high = 0, count  # low fits; high does not (count: no probe above low was too large)
        fitting = [0]
        target, stalls = math.log2(budget_bits), 0
        while high - low > 1:
            if stalls >= 2:
                probe, stalls = (low + high) // 2, 0
            else:
                probe = min(max(self._interpolate(key, low, high, target), low + 1), high - 1)
            width = high - low
            if size(probe) <= budget_bits:
                low = probe
                fitting.append(probe)
            else:
                high = probe
            stalls = stalls + 1 if 2 * (high - low) > width else 0
        fitting += [i for i in range(low + 1, min(low + 1 + self.fit_window, count)) if size(i) <= budget_bits]
        return self._encode_cached(image, key, qualities[max(fitting)])

    def _interpolate(self, key: ImageKey, low: int, high: int, target: float) -> int:
        """The quality index predicted to be the highest with ``log2(bits) <= target``.

        ``low`` has a measured size that fits; ``high`` is the index of a measured size that does
        not, or ``len(qualities)`` when the search has found none above ``low``.
        """
        curve = self._rate_curve(key)
        start = math.log2(curve[low])
        if high < len(curve):
            rise = math.log2(curve[high]) - start
            if rise <= 0:
                return (low + high) // 2
            return low + math.floor((target - start) / rise * (high - low))
        return low + math.floor((target - start) / self.fit_rate_slope)

    @abc.abstractmethod
    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        """Encode a checked uint8 ``[H, W, 3]`` image at a valid quality (no caching)."""

    def _rate_curve(self, key: ImageKey) -> np.ndarray:
        """Payload bits of ``key`` per quality index (0 = not measured yet); marks it recently used."""
        curve = self._rates.get(key)
        if curve is None:
            curve = self._rates[key] = np.zeros(len(self.qualities), dtype=np.int64)
            while len(self._rates) > self.rate_curve_images:
                self._rates.popitem(last=False)
        else:
            self._rates.move_to_end(key)
        return curve

    def _encode_cached(self, image: np.ndarray, key: ImageKey, quality: int) -> EncodedImage:
        cache_key = (key, quality)
        encoded = self._cache.get(cache_key)
        if encoded is not None:
            self._cache.move_to_end(cache_key)
            self._rate_curve(key)[self.qualities.index(quality)] = encoded.bits
            return encoded
        encoded = self._encode(image, quality)
        self._rate_curve(key)[self.qualities.index(quality)] = encoded.bits
        if encoded.decoded.shape != image.shape or encoded.decoded.dtype != np.uint8:
            raise RuntimeError(f"{self.name}: decoded image is {encoded.decoded.dtype} "
                               f"{list(encoded.decoded.shape)}, expected uint8 {list(image.shape)}")
        encoded.decoded.flags.writeable = False
        self._cache[cache_key] = encoded
        self._cache_bytes += _footprint(encoded)
        while self._cache_bytes > self._cache_limit and len(self._cache) > 1:
            _, dropped = self._cache.popitem(last=False)
            self._cache_bytes -= _footprint(dropped)
        return encoded


def _footprint(encoded: EncodedImage) -> int:
    return len(encoded.payload) + encoded.decoded.nbytes
