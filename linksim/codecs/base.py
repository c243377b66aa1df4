"""The source-codec interface of the digital baselines (e.g. "BPG + LDPC").

A :class:`SourceCodec` compresses one RGB image at a chosen quality into the bytes that the
digital scheme protects with a channel code and transmits. Besides :meth:`SourceCodec.encode`
it offers :meth:`SourceCodec.fit`, which picks the highest quality whose payload fits a bit
budget (the number of information bits the channel code can carry at a given bandwidth ratio
and code rate). A sweep asks for many budgets over the same images, so every codec memoises its
encodings per (image content, quality).
"""

from __future__ import annotations

import abc
import hashlib
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
    """How many qualities above the bisection result :meth:`fit` also tries."""

    def __init__(self, cache_bytes: int = 256 * 2**20) -> None:
        self._cache: OrderedDict[tuple[ImageKey, int], EncodedImage] = OrderedDict()
        self._cache_bytes = 0
        self._cache_limit = cache_bytes

    def encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        """Encode a uint8 ``[H, W, 3]`` RGB image at ``quality`` (cached)."""
        image = check_image(image)
        if quality not in self.qualities:
            raise ValueError(f"{self.name}: quality {quality} is outside {self.qualities}")
        return self._encode_cached(image, image_key(image), quality)

    def fit(self, image: np.ndarray, budget_bits: int) -> EncodedImage | None:
        """The encoding of the highest quality whose payload has at most ``budget_bits`` bits.

        Bisection over ``qualities`` finds the boundary between fitting and non-fitting
        qualities, assuming the size grows with quality. Because the size is not strictly
        monotone (rate control can give a slightly smaller file at a higher quality), the
        ``fit_window`` qualities just above the boundary are tried too. The result is the highest
        fitting quality among all qualities tried, which is the true optimum whenever the size
        is monotone, or non-monotone only within ``fit_window`` steps of the boundary.

        Args:
            image: uint8 ``[H, W, 3]`` RGB.
            budget_bits: number of payload bits available.

        Returns:
            The encoding, or ``None`` when even the lowest quality does not fit.
        """
        image = check_image(image)
        key = image_key(image)
        qualities = self.qualities

        def fitting(index: int) -> EncodedImage | None:
            encoded = self._encode_cached(image, key, qualities[index])
            return encoded if encoded.bits <= budget_bits else None

        best = fitting(0)
        if best is None:
            return None
        low, high = 0, len(qualities)  # qualities[low] fits; qualities[high] does not (or is past the end)
        while high - low > 1:
            middle = (low + high) // 2
            encoded = fitting(middle)
            if encoded is None:
                high = middle
            else:
                low, best = middle, encoded
        for index in range(low + 1, min(low + 1 + self.fit_window, len(qualities))):
            encoded = fitting(index)
            if encoded is not None:
                best = encoded
        return best

    @abc.abstractmethod
    def _encode(self, image: np.ndarray, quality: int) -> EncodedImage:
        """Encode a checked uint8 ``[H, W, 3]`` image at a valid quality (no caching)."""

    def _encode_cached(self, image: np.ndarray, key: ImageKey, quality: int) -> EncodedImage:
        cache_key = (key, quality)
        encoded = self._cache.get(cache_key)
        if encoded is not None:
            self._cache.move_to_end(cache_key)
            return encoded
        encoded = self._encode(image, quality)
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
