"""SNR traces: a prescribed per-frame SNR sequence, given inline or as a CSV file.

``snr_trace: {values: [3, 5, 8, 4]}`` or ``snr_trace: {csv: traces/walk.csv, column: snr_db}``.
Values are the per-frame SNR in dB (Es/N0 per complex channel use, :mod:`linksim.channels.base`).

Length rule: a trace longer than the link's frames is cut to its first ``frames`` values; a
shorter one is an error unless ``cycle: true``, which repeats it from the start (a measured trace
of a periodic walk, say). Erroring by default keeps a typo'd short trace from silently looping.

Files are read with pandas; every problem (missing file, missing column, a non-numeric or
non-finite value, an empty trace) is a one-line :class:`~linksim.errors.ScenarioError` naming
the file and, for a bad value, its line.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import torch

from linksim.errors import ScenarioError

if TYPE_CHECKING:  # the config imports this module to load a trace
    from linksim.link.config import SnrTrace


def load_trace(trace: SnrTrace, frames: int, base_dir: str | Path | None = None) -> torch.Tensor:
    """The SNR of each frame of ``trace`` in dB, ``[frames]`` float32 (see the module's length rule).

    ``base_dir`` resolves a relative ``csv`` path (the scenario file's folder, say); without
    it a relative path is taken from the working directory.
    """
    if trace.values is not None:
        values, source = torch.tensor(trace.values, dtype=torch.float64), "snr_trace.values"
    else:
        path = Path(trace.csv).expanduser()
        if base_dir is not None and not path.is_absolute():
            path = Path(base_dir) / path
        values, source = read_snr_csv(path, trace.column), str(path)
    return fit_length(values, frames, trace.cycle, source).float()


def read_snr_csv(path: str | Path, column: str = "snr_db") -> torch.Tensor:
    """The ``column`` of a CSV file as ``[N]`` float64; one-line :class:`ScenarioError` otherwise."""
    path = Path(path)
    if not path.is_file():
        raise ScenarioError(f"snr_trace.csv: {path} does not exist or is not a file")
    try:
        table = pd.read_csv(path, dtype=str, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, OSError) as exc:
        reason = " ".join(str(exc).split()) or type(exc).__name__
        raise ScenarioError(f"snr_trace.csv: cannot read {path} as CSV ({reason})") from None
    if column not in table.columns:
        found = ", ".join(str(c) for c in table.columns) or "none"
        raise ScenarioError(f"snr_trace.column: {path} has no column '{column}' (columns: {found})")
    text = table[column]
    numbers = pd.to_numeric(text, errors="coerce").to_numpy(dtype=float)  # unparsable -> NaN
    bad = ~np.isfinite(numbers)
    if bad.any():
        row = int(bad.argmax())
        # +2: one line of header, and lines count from 1.
        raise ScenarioError(f"snr_trace.csv: {path}:{row + 2}: column '{column}' needs a finite number "
                            f"(SNR in dB), got {text.iloc[row]!r}")
    if len(numbers) == 0:
        raise ScenarioError(f"snr_trace.csv: {path} has no rows")
    return torch.tensor(numbers, dtype=torch.float64)


def fit_length(values: torch.Tensor, frames: int, cycle: bool, source: str = "snr_trace") -> torch.Tensor:
    """``values`` ``[N]`` -> ``[frames]``: the first ``frames`` values; a short trace is repeated
    when ``cycle`` and a one-line :class:`ScenarioError` otherwise."""
    n = values.shape[0]
    if n >= frames:
        return values[:frames]
    if not cycle:
        raise ScenarioError(f"snr_trace: {source} has {n} values, fewer than the {frames} frames "
                            "(add values, or set cycle: true to repeat the trace)")
    return values.repeat(math.ceil(frames / n))[:frames]
