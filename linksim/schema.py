"""Shared pieces of the scenario schema: a strict pydantic base model and field helpers.

Scheme and channel modules define their own config models on top of :class:`StrictModel`;
:mod:`linksim.scenario` assembles them into the full scenario schema.
"""

from __future__ import annotations

from fractions import Fraction
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, model_validator
from pydantic_core import PydanticCustomError


class StrictModel(BaseModel):
    """A config model that rejects unknown fields (naming the accepted ones) and non-finite
    numbers (NaN and infinities, which YAML spells ``.nan`` and ``.inf``, are never a setting)."""

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True, allow_inf_nan=False)

    @model_validator(mode="before")
    @classmethod
    def _reject_unknown_fields(cls, data: Any) -> Any:
        if isinstance(data, dict):
            accepted = set(cls.model_fields)
            for key in data:
                if key not in accepted:
                    raise PydanticCustomError(
                        "unknown_field",
                        "unknown field '{field}' (accepted: {accepted})",
                        {"field": str(key), "accepted": ", ".join(sorted(accepted))},
                    )
        return data


class TypedConfig(StrictModel):
    """A YAML block selected by ``type`` (a scheme, a channel) with an optional display ``name``.

    ``name`` labels the entry in rows and plots (defaults to ``type``), so that one scenario can
    compare two configurations of the same type.
    """

    type: str
    name: str | None = None

    @property
    def label(self) -> str:
        return self.name or self.type


class FieldError(ValueError):
    """A model-level validation error about one field: reported at that field's line.

    ``raise FieldError(("link",), "message")`` from a ``model_validator`` gives
    ``file:line-of-link: link: message`` instead of the top of the file."""

    def __init__(self, loc: tuple[str | int, ...], message: str) -> None:
        super().__init__(message)
        self.loc = loc


def parse_ratio(value: Any) -> float:
    """Parse a bandwidth ratio given as a float, an int or a string such as ``"1/12"``.

    Raises ``ValueError`` unless the ratio lies in (0, 1].
    """
    if isinstance(value, bool):
        raise ValueError(f"expected a fraction like 1/12 or a number, got {value!r}")
    try:
        ratio = float(Fraction(str(value).strip())) if isinstance(value, str) else float(value)
    except (ValueError, ZeroDivisionError, TypeError):
        raise ValueError(f"expected a fraction like 1/12 or a number, got {value!r}") from None
    if not 0.0 < ratio <= 1.0:
        raise ValueError(f"bandwidth ratio must be in (0, 1], got {value!r}")
    return ratio


def ratio_label(ratio: float) -> str:
    """Human-readable fraction for a ratio (``0.0833`` -> ``"1/12"``)."""
    frac = Fraction(ratio).limit_denominator(1000)
    return f"{frac.numerator}/{frac.denominator}" if abs(float(frac) - ratio) < 1e-9 else f"{ratio:.4g}"


def parse_ratios(value: Any) -> Any:
    """A YAML list of bandwidth ratios (``1/12``, ``0.25``) as floats; anything else unchanged."""
    return [parse_ratio(v) for v in value] if isinstance(value, list) else value


#: A list of bandwidth ratios written as fractions or floats.
Ratios = Annotated[list[float], BeforeValidator(parse_ratios)]
