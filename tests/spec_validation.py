"""Test helpers for the sandbox Accounting API: spec-schema validation and an in-process client."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import jsonschema
import yaml
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from starlette.types import ASGIApp, Receive, Scope, Send

from bot.sandbox.accounting import accounting_routes
from bot.sandbox.ledger import Ledger
from tests.needs import XERO_OPENAPI_DIR, folder_file

SPEC_ENV = XERO_OPENAPI_DIR
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def spec_path() -> Path:
    """xero_accounting.yaml from $XERO_OPENAPI_DIR (skips, or fails under CI, when unset)."""
    return folder_file(SPEC_ENV, "xero_accounting.yaml")


def load_spec(path: Path) -> dict:
    with path.open("rb") as handle:
        return yaml.load(handle, Loader=_Loader)  # a safe loader: plain data only


_formats = jsonschema.FormatChecker()


@_formats.checks("uuid", raises=ValueError)
def _is_uuid(value: object) -> bool:
    return not isinstance(value, str) or str(uuid.UUID(value)) == value.lower()


class SpecValidator:
    """Validates bodies against components/schemas of the OpenAPI 3.0 document.

    OpenAPI 3.0 schemas are close to Draft 4: `$ref`s resolve against the whole document because
    it is the root resource; vendor keys (x-*), readOnly and example are ignored by the validator.
    """

    def __init__(self, spec: dict) -> None:
        self.spec = spec
        self._cache: dict[str, jsonschema.Draft4Validator] = {}

    def validator(self, component: str) -> jsonschema.Draft4Validator:
        if component not in self._cache:
            root = {
                "$ref": f"#/components/schemas/{component}",
                "components": self.spec["components"],
            }
            self._cache[component] = jsonschema.Draft4Validator(root, format_checker=_formats)
        return self._cache[component]

    def errors(self, component: str, body: Any) -> list[str]:
        return [
            f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in self.validator(component).iter_errors(body)
        ]


class _TenantFromHeader:
    """Stands in for the gateway middleware: trusts xero-tenant-id and sets request.state."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            headers = dict(scope["headers"])
            scope.setdefault("state", {})["tenant_id"] = headers.get(
                b"xero-tenant-id", b""
            ).decode()
        await self.app(scope, receive, send)


def accounting_client(ledger: Ledger) -> TestClient:
    """A TestClient for the Accounting routes mounted as the real server mounts them."""
    app = Starlette(routes=[Mount("/api.xro/2.0", routes=accounting_routes(ledger))])
    return TestClient(_TenantFromHeader(app), base_url="https://api.xero.com")
