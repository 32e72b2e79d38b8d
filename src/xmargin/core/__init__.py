"""Errors, argument checks, time: the bottom layer every other layer may use."""

from xmargin.core import _check as check
from xmargin.core._errors import InputError, InputErrors, PricingError, XmarginError
from xmargin.core._io import input_errors, load_document
from xmargin.core._time import SECONDS_PER_YEAR, Clock, FixedClock, SystemClock, parse_utc, year_fraction

__all__ = [
    "SECONDS_PER_YEAR",
    "Clock",
    "FixedClock",
    "InputError",
    "InputErrors",
    "PricingError",
    "SystemClock",
    "XmarginError",
    "check",
    "input_errors",
    "load_document",
    "parse_utc",
    "year_fraction",
]
