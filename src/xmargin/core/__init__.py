"""Errors, argument checks, time: the bottom layer every other layer may use."""

from xmargin.core import _check as check
from xmargin.core._errors import (
    InputError,
    InputErrors,
    PricingError,
    XmarginError,
    parse_each,
    renamed_wheres,
    require,
)
from xmargin.core._files import atomic_write, check_output
from xmargin.core._io import input_errors, json_nesting, load_document, parse_json, parse_yaml, read_text
from xmargin.core._json import SCHEMA_VERSION, json_schema, to_data
from xmargin.core._time import SECONDS_PER_YEAR, Clock, FixedClock, SystemClock, parse_utc, year_fraction

__all__ = [
    "SCHEMA_VERSION",
    "SECONDS_PER_YEAR",
    "Clock",
    "FixedClock",
    "InputError",
    "InputErrors",
    "PricingError",
    "SystemClock",
    "XmarginError",
    "atomic_write",
    "check",
    "check_output",
    "input_errors",
    "json_nesting",
    "json_schema",
    "load_document",
    "parse_each",
    "parse_json",
    "parse_utc",
    "parse_yaml",
    "read_text",
    "renamed_wheres",
    "require",
    "to_data",
    "year_fraction",
]
