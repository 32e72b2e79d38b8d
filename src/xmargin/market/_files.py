"""Loading a market file (FORMATS.md "Market file"), YAML or JSON, validated at the edge with pydantic."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from xmargin.core import InputError, InputErrors, input_errors, load_document, parse_utc
from xmargin.instruments import Kind, parse_name
from xmargin.market._snapshot import MarketSnapshot

PositiveNumber = Annotated[float, Field(strict=True, gt=0, allow_inf_nan=False)]
Rate = Annotated[float, Field(strict=True, ge=-1.0, le=1.0, allow_inf_nan=False)]


class MarketFile(BaseModel):
    """The market file as written by users; ``to_snapshot`` turns it into the core value."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    valuation_time: datetime
    index: dict[str, PositiveNumber]
    marks: dict[str, PositiveNumber] = Field(default_factory=dict)
    vol: dict[str, PositiveNumber] = Field(default_factory=dict)
    option_iv: dict[str, PositiveNumber] = Field(default_factory=dict)
    rate: Rate = 0.0

    @field_validator("valuation_time", mode="before")
    @classmethod
    def _utc(cls, value: object) -> datetime:
        try:
            return parse_utc(value, where="")
        except InputError as exc:
            raise ValueError(exc.expected) from None


FIELDS = tuple(MarketFile.model_fields)


def market_from_mapping(doc: Any, *, source: str = "market") -> MarketSnapshot:
    """Validate a market document (already parsed) and build a ``MarketSnapshot``."""
    if not isinstance(doc, dict):
        raise InputError(
            where=source, expected=f"a mapping with keys {', '.join(FIELDS)}", found=type(doc).__name__
        )
    try:
        model = MarketFile.model_validate(doc)
    except ValidationError as exc:
        raise input_errors(exc, source=source, allowed_keys=FIELDS) from None
    errors: list[InputError] = []
    for asset in model.vol:
        if asset not in model.index:
            errors.append(
                InputError(
                    where=f"{source}: vol.{asset}",
                    expected="an asset listed in index",
                    found=f"unknown asset {asset}",
                )
            )
    for section, kinds in (("marks", (Kind.FUTURE, Kind.PERPETUAL)), ("option_iv", (Kind.OPTION,))):
        for name in getattr(model, section):
            try:
                inst = parse_name(name)
            except InputError as exc:
                errors.append(
                    InputError(where=f"{source}: {section}.{name}", expected=exc.expected, found=exc.found)
                )
                continue
            if inst.kind not in kinds:
                errors.append(
                    InputError(
                        where=f"{source}: {section}.{name}",
                        expected=" or ".join(k.value for k in kinds),
                        found=inst.kind.value,
                    )
                )
            elif inst.base not in model.index:
                errors.append(
                    InputError(
                        where=f"{source}: {section}.{name}",
                        expected="an underlying listed in index",
                        found=f"unknown asset {inst.base}",
                    )
                )
    if errors:
        raise InputErrors(errors)
    try:
        return MarketSnapshot(
            valuation_time=model.valuation_time,
            index_usd=model.index,
            marks_usd=model.marks,
            vol=model.vol,
            option_iv=model.option_iv,
            rate=model.rate,
            source=source,
        )
    except InputError as exc:  # the snapshot's own bounds, located in the file
        errs = exc.errors if isinstance(exc, InputErrors) else (exc,)
        raise InputErrors(
            [
                InputError(
                    where=e.where.replace("market ", f"{source}: ", 1), expected=e.expected, found=e.found
                )
                for e in errs
            ]
        ) from None


def load_market(path: str | Path) -> MarketSnapshot:
    """Load a market file (YAML or JSON; ``-`` reads standard input) or, for a ``.csv``/``.csv.gz`` path,
    a Deribit chain snapshot (``PATH#SNAPSHOT``)."""
    text = str(path)
    if text.partition("#")[0].endswith((".csv", ".csv.gz")):
        from xmargin.market._deribit import load_deribit_chain

        return load_deribit_chain(text)
    source = "standard input" if text == "-" else text
    return market_from_mapping(load_document(path), source=source)


__all__ = ["FIELDS", "InputErrors", "MarketFile", "load_market", "market_from_mapping"]
