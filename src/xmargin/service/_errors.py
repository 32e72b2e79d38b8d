"""Errors as HTTP answers, one shape for all: ``{"error": {"where", "expected", "found"}}``.

======================================  ======  ==============================================
raised                                  status  body
======================================  ======  ==============================================
no key, or an unknown / revoked key     401     ``error`` (where ``X-API-Key``)
key may not touch that account          403     ``error`` (where ``account``)
``InputError``, FastAPI's validation    422     ``error`` (+ ``errors`` when several)
a body that is not JSON                 422     ``error`` (where ``body``)
``RefusedError`` (risk check)           409     ``error`` + ``refused`` (the margin after)
rate limit                              429     ``error`` + ``Retry-After`` header
no market loaded                        503     ``error`` (where ``market``)
any other fault                         500     ``error`` naming the fault's type, no traceback
======================================  ======  ==============================================
"""

from __future__ import annotations

import contextlib
import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from xmargin.core import InputError, InputErrors, XmarginError, renamed_wheres
from xmargin.ledger import RefusedError

LOG = logging.getLogger("xmargin.service")


class ServiceError(XmarginError):
    """An error with its HTTP status and the ``where``/``expected``/``found`` of its body."""

    def __init__(
        self,
        status: int,
        *,
        where: str,
        expected: str,
        found: object,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(f"{where}: expected {expected}, found {found!r}")
        self.status = status
        self.where = where
        self.expected = expected
        self.found = found
        self.headers = dict(headers or {})


API_WHERES = {
    "ACCOUNT": "path.account",
    "ASSET": "body.asset",
    "AMOUNT": "body.amount",
    "INSTRUMENT": "body.instrument",
    "SIZE": "body.size",
    "PRICE": "body.price",
    "fee": "body.fee",
    "key": "header.Idempotency-Key",
}
"""The ledger's parameter names in its errors, as the parts of a request they came from."""


def request_wheres() -> contextlib.AbstractContextManager[None]:
    """Rename the ``where`` of bad input raised by the ledger to the request's part (:data:`API_WHERES`):
    a ``where`` equal to a name, or starting with ``name `` / ``name.`` / ``name:``."""
    return renamed_wheres(API_WHERES, separators=(" ", ".", ":"))


def _plain(x: object) -> Any:
    """``found`` as JSON: plain values kept, anything else as its text (NaN and inf as text too)."""
    if x is None or isinstance(x, bool | int | str):
        return x
    if isinstance(x, float):
        return x if math.isfinite(x) else str(x)
    if isinstance(x, list | tuple):
        return [_plain(v) for v in x][:20]
    if isinstance(x, dict):
        return {str(k): _plain(v) for k, v in list(x.items())[:20]}
    return str(x)


def detail(where: str, expected: str, found: object) -> dict[str, Any]:
    return {"where": where, "expected": expected, "found": _plain(found)}


def error_response(
    status: int,
    errors: Sequence[dict[str, Any]],
    *,
    extra: Mapping[str, Any] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {"error": errors[0]}
    if len(errors) > 1:
        body["errors"] = list(errors)
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=dict(headers or {}))


def _input_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, InputError)
    errors = exc.errors if isinstance(exc, InputErrors) else (exc,)
    return error_response(422, [detail(e.where, e.expected, e.found) for e in errors])


def _where(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    """FastAPI's validation errors in the one shape: ``where`` the field's path (``body.amount``),
    ``expected`` pydantic's message, ``found`` the value sent (absent: null)."""
    assert isinstance(exc, RequestValidationError)
    errors = [
        detail(_where(e.get("loc", ())), str(e.get("msg", "a valid value")).lower(), e.get("input"))
        for e in exc.errors()
    ]
    return error_response(422, errors or [detail("request", "a valid request", None)])


def _refused(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RefusedError)
    refused = {
        "reason": str(exc),
        "model": exc.model,
        "initial_margin_after": exc.initial_margin_after,
        "margin_balance_after": exc.margin_balance_after,
        "available_after": exc.available_after,
    }
    return error_response(
        409,
        [detail("risk check", "a command the ledger's risk checks accept", exc.reason)],
        extra={"refused": {k: _plain(v) for k, v in refused.items()}},
    )


def _service_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ServiceError)
    return error_response(exc.status, [detail(exc.where, exc.expected, exc.found)], headers=exc.headers)


def _http_error(_: Request, exc: Exception) -> JSONResponse:
    """Starlette's own (404 unknown path, 405 wrong method) in the one shape. FastAPI's 400 for a body it
    cannot parse (not JSON, not UTF-8) is bad input like any other: 422, ``where`` = ``body`` (found by
    schemathesis: it was a 400 that no route documents, naming the path)."""
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 400:
        return error_response(422, [detail("body", "a JSON document (UTF-8)", str(exc.detail))])
    return error_response(
        exc.status_code,
        [detail("path", "a route of the API (see /openapi.json)", str(exc.detail))],
        headers=exc.headers,
    )


def _fault(_: Request, exc: Exception) -> JSONResponse:
    LOG.error("internal fault: %s", type(exc).__name__)
    return error_response(
        500, [detail("server", "no internal fault", f"{type(exc).__name__} (see the server's log)")]
    )


def install(app: FastAPI) -> None:
    """Register the handlers on ``app``."""
    app.add_exception_handler(InputError, _input_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(RefusedError, _refused)
    app.add_exception_handler(ServiceError, _service_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(Exception, _fault)
