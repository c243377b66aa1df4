"""Published reference points: numbers from papers and their repositories, drawn beside our curves.

A reference set is a CSV file with one row per published point and the columns

    dataset, channel, bandwidth_ratio, snr_db, metric, value, scheme, citation

``channel`` is a linksim channel type (``awgn``), ``bandwidth_ratio`` a fraction (``1/16``) or a
float in (0, 1], ``metric`` a linksim metric name (``psnr``, ``ms_ssim``, ``lpips``) and ``value``
the published value of that metric; ``citation`` says where the point comes from (its text up to
the first comma outside parentheses labels plots). Further columns are allowed and ignored.

Sets shipped with linksim live in ``linksim/references/<name>.csv``, each with ``<name>.md``
beside it saying where the numbers come from; a scenario's ``references:`` names them, or gives
the path of a CSV file.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from linksim.errors import ScenarioError
from linksim.metric_catalogue import available_metrics
from linksim.schema import parse_ratio, ratio_label

if TYPE_CHECKING:  # scenario.py imports this module to validate ``references:``
    import pandas as pd

    from linksim.scenario import Scenario

# A set is read and checked with the csv module (:func:`reference_rows`), so that validating a
# scenario's ``references:`` imports no pandas; the frames for the plots are built from the rows.

REFERENCE_DIR = Path(__file__).parent / "references"
COLUMNS = ("dataset", "channel", "bandwidth_ratio", "snr_db", "metric", "value", "scheme", "citation")
TEXT_COLUMNS = ("dataset", "channel", "metric", "scheme", "citation")
#: What identifies one published curve: its points are joined by a line.
CURVE_KEYS = ["dataset", "scheme", "citation"]

#: Shipped reference sets: name -> CSV file.
REFERENCES: dict[str, Path] = {path.stem: path for path in sorted(REFERENCE_DIR.glob("*.csv"))}


def resolve_reference(name_or_path: str) -> Path:
    """The CSV file of a shipped name or of an existing path (relative to the current directory)."""
    if name_or_path in REFERENCES:
        return REFERENCES[name_or_path]
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = ", ".join(REFERENCES) or "none"
    raise ScenarioError(f"unknown reference set '{name_or_path}': neither a shipped name ({shipped}) "
                        "nor an existing CSV file")


def reference_rows(name_or_path: str) -> list[dict[str, Any]]:
    """The validated points of one reference set, one dict per point (keys :data:`COLUMNS`;
    ``bandwidth_ratio``, ``snr_db`` and ``value`` as floats, the others as stripped strings).

    Raises a one-line :class:`ScenarioError` naming the file, and the line and column of the
    first bad value.
    """
    path = resolve_reference(name_or_path)
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            records = list(csv.reader(handle, strict=True))
    except (csv.Error, UnicodeDecodeError, OSError) as exc:
        raise ScenarioError(f"{path}: unreadable reference CSV ({str(exc).strip().splitlines()[0]})") from None
    if not records:
        raise ScenarioError(f"{path}: unreadable reference CSV (no header line)")
    header = [c.strip() for c in records[0]]
    missing = [c for c in COLUMNS if c not in header]
    if missing:
        raise ScenarioError(f"{path}: missing column{'s' if len(missing) > 1 else ''} {', '.join(missing)} "
                            f"(expected: {', '.join(COLUMNS)})")
    position = {column: header.index(column) for column in COLUMNS}
    rows: dict[int, dict[str, Any]] = {}  # by line number (header: line 1; a record per line)
    for line, record in enumerate(records[1:], start=2):
        if len(record) > len(header):
            raise ScenarioError(f"{path}: unreadable reference CSV (line {line}: expected {len(header)} fields, "
                                f"saw {len(record)})")
        row = {c: record[i].strip() if i < len(record) else "" for c, i in position.items()}
        if any(row.values()):  # blank lines are skipped
            rows[line] = row
    if not rows:
        raise ScenarioError(f"{path}: no reference points (only a header)")
    for column in TEXT_COLUMNS:
        _check_rows(path, rows, column, lambda v: v != "", "empty value")
    metrics = available_metrics()
    _check_rows(path, rows, "metric", lambda v: v in metrics, "unknown metric '{value}' (accepted: "
                f"{', '.join(metrics)})")
    for column, parse in (("bandwidth_ratio", parse_ratio), ("snr_db", _finite), ("value", _finite)):
        for line, row in rows.items():
            row[column] = _parse_cell(path, line, column, row[column], parse)
    return list(rows.values())


def read_reference(name_or_path: str) -> pd.DataFrame:
    """The validated points of one reference set (:func:`reference_rows`) as a frame with the
    columns of :data:`COLUMNS`, one row per point."""
    import pandas as pd

    return pd.DataFrame(reference_rows(name_or_path), columns=list(COLUMNS))


def scenario_references(scenario: "Scenario") -> pd.DataFrame | None:
    """The points of ``scenario.references`` on the scenario's channel types (columns of
    :func:`read_reference`), or ``None`` when it names no references."""
    if not scenario.references:
        return None
    import pandas as pd

    frame = pd.concat([read_reference(entry) for entry in scenario.references], ignore_index=True)
    return frame[frame["channel"].isin({c.type for c in scenario.channel})].reset_index(drop=True)


def reference_points(references: pd.DataFrame, metric: str, bandwidth_ratio: float) -> pd.DataFrame:
    """The points of ``references`` for ``metric`` at ``bandwidth_ratio`` (equal within 1e-9),
    sorted by curve (:data:`CURVE_KEYS`) and SNR."""
    match = (references["metric"] == metric) & np.isclose(references["bandwidth_ratio"], bandwidth_ratio,
                                                          rtol=0.0, atol=1e-9)
    return references[match].sort_values([*CURVE_KEYS, "snr_db"])


def short_citation(citation: str) -> str:
    """A citation up to its first comma outside parentheses: ``WITT (Yang et al., 2023), repo
    plots`` -> ``WITT (Yang et al., 2023)``."""
    depth = 0
    for i, char in enumerate(citation):
        depth += {"(": 1, ")": -1}.get(char, 0)
        if char == "," and depth == 0:
            return citation[:i].strip()
    return citation.strip()


def reference_label(scheme: str, citation: str, dataset: str) -> str:
    """Legend text of one published curve: ``DeepJSCC (WITT (Yang et al., 2023), kodak)``.
    The dataset is named because published numbers often come from other images than ours."""
    return f"{scheme} ({short_citation(citation)}, {dataset})"


def describe_reference(frame: pd.DataFrame) -> str:
    """One line about a reference set, for ``linksim list``."""
    ratios = ", ".join(ratio_label(r) for r in sorted(frame["bandwidth_ratio"].unique()))
    parts = [", ".join(frame[c].unique()) for c in ("dataset", "channel")] + [f"ratio {ratios}"]
    return (f"{'; '.join(parts)}; {', '.join(frame['metric'].unique())} of {', '.join(frame['scheme'].unique())} "
            f"({len(frame)} points; {short_citation(frame['citation'].iloc[0])})")


def _check_rows(path: Path, rows: dict[int, dict[str, Any]], column: str, ok: Callable[[str], bool],
                problem: str) -> None:
    """Raise for the first row whose ``column`` value fails ``ok``; ``problem`` may name it as ``{value}``."""
    bad = [(line, row[column]) for line, row in rows.items() if not ok(row[column])]
    if bad:
        line, value = bad[0]
        raise ScenarioError(f"{path}:{line}: {column}: {problem.format(value=value)}")


def _parse_cell(path: Path, line: int, column: str, value: str, parse: Callable[[str], float]) -> float:
    try:
        return parse(value)
    except ValueError as exc:
        raise ScenarioError(f"{path}:{line}: {column}: {exc}") from None


def _finite(value: str) -> float:
    try:
        number = float(value)
    except ValueError:
        raise ValueError(f"expected a number, got '{value}'") from None
    if not math.isfinite(number):
        raise ValueError(f"expected a finite number, got '{value}'")
    return number
