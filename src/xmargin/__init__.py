"""xmargin: cross-margin and portfolio-margin risk engine for crypto derivatives."""

from xmargin.core import InputError, XmarginError

__version__ = "0.1.0"
__all__ = ["InputError", "XmarginError", "__version__"]
