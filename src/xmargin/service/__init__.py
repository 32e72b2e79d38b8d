"""The risk service (FORMATS.md "Service"): an HTTP API over the ledger, with API keys and scopes.

``create_app(ledger, keys, market, config)`` builds the FastAPI application from what it is given (no
global state); ``xmargin serve`` runs it with uvicorn; ``xmargin keys create|revoke`` manage the keys. See
``docs/service.md``.
"""

from xmargin.core import require

require("fastapi", "service")

from xmargin.service._access import parse_rate_limit  # noqa: E402
from xmargin.service._app import ServiceConfig, create_app  # noqa: E402
from xmargin.service._keys import VENUE, ApiKey, KeyStore, NewKey, Scope, check_scope  # noqa: E402

__all__ = [
    "VENUE",
    "ApiKey",
    "KeyStore",
    "NewKey",
    "Scope",
    "ServiceConfig",
    "check_scope",
    "create_app",
    "parse_rate_limit",
]
