"""A compiled CPU decoder for the 5G NR LDPC codes of Sionna's :class:`LDPC5GEncoder`.

Sionna's ``LDPC5GDecoder`` runs belief propagation as eager PyTorch gathers and scatters over the
Tanner graph: on a CPU thread it decodes 0.1-0.3 Mbit/s. :class:`FastLDPC5GDecoder` takes the
same encoder, the same channel logits (``log p(1)/p(0)`` of the ``n`` rate-matched bits) and
returns the same hard information bits, but decodes with a numba kernel:

* **Row-layered schedule** (every parity check updates the a-posteriori LLRs at once, in the
  order of the rows of the parity-check matrix): it converges in about half the iterations of
  Sionna's flooding schedule.
* **Check-node rule** ``cn_update``: ``"minsum"`` (normalised min-sum, messages times
  ``minsum_scale``; a few additions per edge) or ``"boxplus"`` (exact sum-product via the tanh
  rule, two transcendental functions per edge, as accurate as Sionna's ``boxplus-phi``).
* **Early stopping**: after every iteration the syndrome of the hard decisions is computed and a
  codeword whose parity checks are all satisfied stops.
* Codewords are decoded in parallel over numba's threads (``numba.set_num_threads``).

**Rate recovery** follows TS 38.212 5.4.2 for redundancy version 0, as Sionna's encoder transmits
it: the ``n`` received LLRs are de-interleaved (the output bit interleaver of 5.4.2.2 when the
encoder has ``num_bits_per_symbol``), then fill the mother codeword from position ``2Z`` on (the
first ``2Z`` systematic bits are always punctured), skipping the ``k_filler`` filler bits, which
are known zeros. Positions that were not sent get LLR 0. The map is one gather index built once
(:func:`rate_recovery_index`); the tests check it against the LLRs Sionna's own decoder feeds
to its first iteration.

**Pruning.** Trailing mother-code columns that are unsent degree-1 parity bits carry no
information and only slow decoding: they and their single parity check are removed (as Sionna's
``prune_pcm`` does), leaving the top-left corner of the parity-check matrix.

Channel LLRs and check-to-variable messages are clipped to ``+-llr_max`` (Sionna's default 20).
The a-posteriori LLRs are not: clipping them would corrupt the extrinsic values a layered
decoder recovers by subtracting the old message (measured: BP then fails to converge on 2% of
n=1024 codewords at 2 dB, with hundreds of bit errors each).
"""

from __future__ import annotations

import math

import numba
import numpy as np
import torch
from sionna.phy.fec.ldpc import LDPC5GEncoder

UNSENT = -1
"""Rate-recovery index of a mother-code bit that was not transmitted (LLR 0)."""
FILLER = -2
"""Rate-recovery index of a filler bit (known to be 0)."""
CN_UPDATES = ("minsum", "boxplus")


def rate_recovery_index(encoder: LDPC5GEncoder) -> np.ndarray:
    """``[n_ldpc]`` int64: for each mother-code bit, the index of its received LLR among the
    ``n`` rate-matched bits, or :data:`UNSENT` / :data:`FILLER` (TS 38.212 5.4.2, rv 0)."""
    n, k, z, k_ldpc, n_ldpc = encoder.n, encoder.k, encoder.z, encoder.k_ldpc, encoder.n_ldpc
    # bit-selection order: systematic bits 2Z..k-1, then parity bits k_ldpc..n_ldpc-1
    order = np.concatenate([np.arange(2 * z, k), np.arange(k_ldpc, n_ldpc)])
    index = np.full(n_ldpc, UNSENT, dtype=np.int64)
    index[k:k_ldpc] = FILLER
    sent = order[:n]  # the j-th selected bit is the j-th bit before output interleaving
    if encoder.num_bits_per_symbol is not None:
        # the encoder sends c[out_int]; selected bit j sits at received position out_int_inv[j]
        index[sent] = encoder.out_int_inv.cpu().numpy().astype(np.int64)
    else:
        index[sent] = np.arange(n)
    return index


def pruned_checks(pcm, index: np.ndarray) -> tuple[np.ndarray, np.ndarray, int]:
    """CSR rows (``row_ptr``, ``cols``) of the parity-check matrix without its trailing unsent
    degree-1 bits and their checks, and the number of bits kept."""
    pcm = pcm.tocsc()
    degree = np.diff(pcm.indptr)
    num_vns, num_cns = pcm.shape[1], pcm.shape[0]
    drop_rows = []
    while num_vns > 0 and degree[num_vns - 1] == 1 and index[num_vns - 1] == UNSENT:
        drop_rows.append(pcm.indices[pcm.indptr[num_vns - 1]])
        num_vns -= 1
    keep = np.setdiff1d(np.arange(num_cns), np.asarray(drop_rows, dtype=np.int64))
    kept = pcm[:, :num_vns].tocsr()[keep]
    kept.sort_indices()
    return kept.indptr.astype(np.int64), kept.indices.astype(np.int64), num_vns


class FastLDPC5GDecoder:
    """Decode Sionna 5G LDPC codewords on CPU threads (see the module docs).

    Args:
        encoder: the :class:`LDPC5GEncoder` the codewords were made with.
        num_iter: maximum layered iterations.
        cn_update: ``"minsum"`` (normalised min-sum) or ``"boxplus"`` (sum-product).
        minsum_scale: normalisation factor of min-sum messages.
        llr_max: clipping of channel LLRs and messages.
        early_stopping: stop a codeword once its syndrome is zero.

    Attributes:
        last_iterations: ``[N]`` iterations each codeword of the last call used.
    """

    def __init__(
        self,
        encoder: LDPC5GEncoder,
        num_iter: int = 20,
        cn_update: str = "minsum",
        minsum_scale: float = 0.75,
        llr_max: float = 20.0,
        early_stopping: bool = True,
    ) -> None:
        if cn_update not in CN_UPDATES:
            raise ValueError(f"cn_update must be one of {', '.join(CN_UPDATES)}, got '{cn_update}'")
        if num_iter < 1:
            raise ValueError(f"num_iter must be >= 1, got {num_iter}")
        self.k, self.n = encoder.k, encoder.n
        self.num_iter = int(num_iter)
        self.cn_update = cn_update
        self.minsum_scale = float(minsum_scale)
        self.llr_max = float(llr_max)
        self.early_stopping = bool(early_stopping)
        index = rate_recovery_index(encoder)
        self.row_ptr, self.cols, num_vns = pruned_checks(encoder.pcm, index)
        self.index = index[:num_vns]
        # gather index into the logits with a zero column appended (unsent bits read column n)
        self._gather = np.where(self.index >= 0, self.index, self.n)
        self._filler = self.index == FILLER
        self.last_iterations: torch.Tensor | None = None

    def channel_llrs(self, llr: np.ndarray) -> np.ndarray:
        """Logits ``[N, n]`` -> decoder-internal LLRs ``log p(0)/p(1)`` ``[N, num_vns]`` (float32),
        punctured and unsent bits at 0, filler bits at ``+llr_max``."""
        padded = np.concatenate([-llr, np.zeros((llr.shape[0], 1), np.float32)], axis=1)
        out = np.clip(padded[:, self._gather], -self.llr_max, self.llr_max)
        out[:, self._filler] = self.llr_max
        return np.ascontiguousarray(out, dtype=np.float32)

    def __call__(self, llr: torch.Tensor) -> torch.Tensor:
        """Logits ``log p(1)/p(0)`` ``[N, n]`` -> hard information bits ``[N, k]`` (float 0/1)."""
        if llr.dim() != 2 or llr.shape[1] != self.n:
            raise ValueError(f"llr must have shape [N, {self.n}], got {tuple(llr.shape)}")
        channel = self.channel_llrs(llr.detach().to("cpu", torch.float32).numpy())
        # as many threads as torch may use (a sweep's ``threads``), at most numba's pool
        numba.set_num_threads(max(1, min(torch.get_num_threads(), numba.config.NUMBA_NUM_THREADS)))
        bits = np.empty((channel.shape[0], self.k), dtype=np.float32)
        iterations = np.empty(channel.shape[0], dtype=np.int64)
        _decode_batch(channel, self.row_ptr, self.cols, self.num_iter, self.cn_update == "minsum",
                      np.float32(self.minsum_scale), np.float32(self.llr_max), self.early_stopping,
                      bits, iterations)
        self.last_iterations = torch.from_numpy(iterations).to(llr.device)
        return torch.from_numpy(bits).to(llr.device)


LANES = 64
"""Codewords decoded together by one thread: the inner loops run over them, so the compiler
vectorises every message update across codewords (SIMD)."""


@numba.njit(parallel=True, cache=True, fastmath=True)
def _decode_batch(channel, row_ptr, cols, num_iter, minsum, scale, llr_max, early_stopping,
                  bits_out, iterations_out):  # pragma: no cover - compiled
    """Decode every row of ``channel`` ``[N, V]``; write ``bits_out`` ``[N, k]`` and iterations.

    Codewords go in blocks of :data:`LANES`; messages are stored ``[edge, lane]``."""
    num_words, num_vns = channel.shape
    num_checks = row_ptr.shape[0] - 1
    max_degree = 0
    for r in range(num_checks):
        max_degree = max(max_degree, row_ptr[r + 1] - row_ptr[r])
    num_blocks = (num_words + LANES - 1) // LANES
    for b in numba.prange(num_blocks):
        first = b * LANES
        lanes = min(LANES, num_words - first)
        post = np.full((num_vns, LANES), llr_max, dtype=np.float32)  # idle lanes: all-zero word
        for i in range(lanes):
            for v in range(num_vns):
                post[v, i] = channel[first + i, v]
        _decode_block(post, row_ptr, cols, max_degree, lanes, num_iter, minsum, scale, llr_max,
                      early_stopping, bits_out[first:first + lanes], iterations_out[first:first + lanes])


@numba.njit(cache=True, fastmath=True)
def _decode_block(post, row_ptr, cols, max_degree, lanes, num_iter, minsum, scale, llr_max,
                  early_stopping, bits_out, iterations_out):  # pragma: no cover - compiled
    """Decode the ``lanes`` codewords whose LLRs are the columns of ``post`` ``[V, LANES]``."""
    num_checks = row_ptr.shape[0] - 1
    k = bits_out.shape[1]
    width = post.shape[1]  # a run-time trip count: LLVM vectorises these loops (with alias checks)
    c2v = np.zeros((cols.shape[0], width), dtype=np.float32)
    q = np.empty((max_degree, width), dtype=np.float32)
    min1, min2 = np.empty(width, dtype=np.float32), np.empty(width, dtype=np.float32)
    ties, sign = np.empty(width, dtype=np.float32), np.empty(width, dtype=np.float32)
    done = np.zeros(width, dtype=np.bool_)
    done[lanes:] = True
    for it in range(num_iter):
        for r in range(num_checks):
            start, stop = row_ptr[r], row_ptr[r + 1]
            degree = stop - start
            for j in range(degree):
                qj, pj, cj = q[j], post[cols[start + j]], c2v[start + j]
                for i in range(width):
                    qj[i] = pj[i] - cj[i]
            if minsum:
                _minsum_row(q, degree, scale, llr_max, min1, min2, ties, sign, c2v, start)
            else:
                _boxplus_row(q, degree, llr_max, min1, min2, c2v, start)  # min1/min2 as scratch
            for j in range(degree):
                qj, pj, cj = q[j], post[cols[start + j]], c2v[start + j]
                for i in range(width):
                    pj[i] = qj[i] + cj[i]
        last = it == num_iter - 1
        if early_stopping or last:
            ok = _syndrome_zero(post, row_ptr, cols)
            for i in range(lanes):
                if not done[i] and (ok[i] or last):
                    done[i] = True
                    iterations_out[i] = it + 1 if ok[i] else num_iter
                    for v in range(k):
                        bits_out[i, v] = 1.0 if post[v, i] <= 0 else 0.0  # Sionna: 1 at LLR <= 0
            if done.all():
                break


@numba.njit(inline="always", fastmath=True)
def _minsum_row(q, degree, scale, llr_max, min1, min2, ties, sign, c2v, start):  # pragma: no cover - compiled
    """Normalised min-sum: each outgoing message is the scaled smallest *other* input magnitude
    with the product of the other signs.

    Three passes over the row, each touching few arrays so that LLVM vectorises it across lanes
    (its run-time alias checks are limited): smallest magnitude and sign product; second smallest
    and the number of inputs at the smallest (a tie makes the second smallest equal to it); the
    messages."""
    lanes = q.shape[1]
    for i in range(lanes):
        min1[i] = np.inf
        sign[i] = 1.0
    for j in range(degree):
        qj = q[j]
        for i in range(lanes):
            min1[i] = min(min1[i], abs(qj[i]))
            sign[i] = -sign[i] if qj[i] < 0 else sign[i]
    for i in range(lanes):
        min2[i] = np.inf
        ties[i] = 0.0
    for j in range(degree):
        qj = q[j]
        for i in range(lanes):
            a = abs(qj[i])
            min2[i] = min(min2[i], a) if a > min1[i] else min2[i]
            ties[i] += 1.0 if a == min1[i] else 0.0
    for i in range(lanes):
        min2[i] = min1[i] if ties[i] > 1.0 else min2[i]
    for j in range(degree):
        qj, cj = q[j], c2v[start + j]
        for i in range(lanes):
            a = abs(qj[i])
            magnitude = min2[i] if a == min1[i] else min1[i]
            cj[i] = min(scale * magnitude, llr_max) * (-sign[i] if qj[i] < 0 else sign[i])


@numba.njit(inline="always", fastmath=True)
def _boxplus_row(q, degree, llr_max, suffix, prefix, c2v, start):  # pragma: no cover - compiled
    """Sum-product: ``2 atanh(prod_{i != j} tanh(q_i / 2))`` from prefix and suffix products (no
    division, so a zero input is exact); messages clipped to ``+-llr_max``."""
    lanes = q.shape[1]
    for i in range(lanes):
        suffix[i] = 1.0
        prefix[i] = 1.0
    for j in range(degree - 1, -1, -1):  # c2v holds the suffix products for a moment
        for i in range(lanes):
            c2v[start + j, i] = suffix[i]
            suffix[i] *= math.tanh(np.float32(0.5) * q[j, i])
    for j in range(degree):
        for i in range(lanes):
            p = prefix[i] * c2v[start + j, i]
            p = min(max(p, np.float32(-0.9999999)), np.float32(0.9999999))
            c2v[start + j, i] = min(max(np.float32(2.0) * math.atanh(p), -llr_max), llr_max)
            prefix[i] *= math.tanh(np.float32(0.5) * q[j, i])


@numba.njit(inline="always")
def _syndrome_zero(post, row_ptr, cols):  # pragma: no cover - compiled
    """``[lanes]`` bool: the hard decisions of each lane satisfy every parity check."""
    lanes = post.shape[1]
    failed = np.zeros(lanes, dtype=np.bool_)
    parity = np.zeros(lanes, dtype=np.int8)
    for r in range(row_ptr.shape[0] - 1):
        parity[:] = 0
        for e in range(row_ptr[r], row_ptr[r + 1]):
            col = cols[e]
            for i in range(lanes):
                parity[i] ^= 1 if post[col, i] <= 0 else 0
        for i in range(lanes):
            failed[i] |= parity[i] != 0
    return ~failed
