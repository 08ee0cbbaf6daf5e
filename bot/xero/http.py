"""The httpx clients the Xero library makes, all sharing one TLS context per process."""

from __future__ import annotations

import functools
import ssl

import httpx


@functools.cache
def tls_context() -> ssl.SSLContext:
    """The process's TLS context: certificate checks as httpx's default, built once.

    Building one reads the whole CA bundle (about 50 ms of CPU), and a long-running process
    opens a client per sync, write-back and connect; an SSLContext is safe to share.
    """
    return httpx.create_ssl_context()


def new_client(timeout: httpx.Timeout) -> httpx.Client:
    """A client of its own (its own connection pool) on the shared TLS context; close it."""
    return httpx.Client(timeout=timeout, verify=tls_context())
