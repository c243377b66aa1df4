"""User-facing errors.

A :class:`LinksimError` means the *user* asked for something impossible (a bad YAML field, a
missing dataset, an unknown scheme). The CLI prints its message on one line and exits with
code 2, without a traceback. Anything else is a bug in linksim and keeps its traceback.
"""

from __future__ import annotations


class LinksimError(Exception):
    """An error caused by user input; its message is a complete one-line explanation."""

    exit_code = 2


class ScenarioError(LinksimError):
    """A scenario file is malformed or fails validation."""


class DatasetError(LinksimError):
    """A dataset cannot be found, read or subset as requested."""


class MetricError(LinksimError):
    """A metric is unknown or its resources (e.g. LPIPS weights) are missing."""
