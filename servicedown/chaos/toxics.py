"""A small, bounded client for the toxiproxy HTTP API.

The project does not use `toxiproxy-python`: version 0.1.1 keeps the server's address in
class attributes (`APIConsumer.host` / `.port`), so two stacks in one process would share one
address; its `requests` calls carry no timeout, so a hung API would hang the chaos run with it;
and it needs the Python 2 shim `future`. Wrapping it would mean overriding every method.
Every call here has a hard timeout and names the proxy and toxic it touched."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from servicedown.redact import clip

# toxiproxy answers 403 to browser user agents; say who we are.
_HEADERS = {"User-Agent": "servicedown-chaos/0.1", "Accept": "application/json"}


class ToxiproxyError(RuntimeError):
    """The toxiproxy API refused or did not answer; the message says which call."""


@dataclass(frozen=True)
class Toxic:
    name: str
    type: str
    stream: str
    attributes: dict[str, Any]


class Toxiproxy:
    """One toxiproxy server, by its API base URL (e.g. http://127.0.0.1:32768)."""

    def __init__(self, base_url: str, timeout_s: float = 3.0,
                 transport: httpx.BaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._client = httpx.Client(base_url=self.base_url, headers=_HEADERS,
                                    timeout=httpx.Timeout(timeout_s, connect=min(timeout_s, 2.0)),
                                    transport=transport)

    def _call(self, method: str, path: str, json: Any = None, ok: tuple[int, ...] = (200,)) -> Any:
        try:
            resp = self._client.request(method, path, json=json)
        except httpx.HTTPError as exc:
            raise ToxiproxyError(f"{method} {path}: {type(exc).__name__}: {exc}") from None
        if resp.status_code not in ok:
            raise ToxiproxyError(f"{method} {path}: HTTP {resp.status_code} {clip(resp.text, 200)}")
        if not resp.content:
            return None
        try:
            return resp.json()
        except ValueError:
            return resp.text

    def version(self) -> str:
        return str(self._call("GET", "/version"))

    def create_proxy(self, name: str, listen: str, upstream: str) -> None:
        body = {"name": name, "listen": listen, "upstream": upstream, "enabled": True}
        self._call("POST", "/proxies", body, ok=(200, 201))

    def proxies(self) -> dict[str, Any]:
        return self._call("GET", "/proxies") or {}

    def set_enabled(self, proxy: str, enabled: bool) -> None:
        self._call("POST", f"/proxies/{proxy}", {"enabled": enabled})

    def enabled(self, proxy: str) -> bool:
        return bool((self._call("GET", f"/proxies/{proxy}") or {}).get("enabled"))

    def add_toxic(self, proxy: str, toxic: Toxic) -> None:
        body = {"name": toxic.name, "type": toxic.type, "stream": toxic.stream,
                "toxicity": 1.0, "attributes": toxic.attributes}
        self._call("POST", f"/proxies/{proxy}/toxics", body)

    def remove_toxic(self, proxy: str, name: str) -> bool:
        """True when it was there; a toxic already gone is not an error (revert is idempotent)."""
        try:
            self._call("DELETE", f"/proxies/{proxy}/toxics/{name}", ok=(204, 200))
        except ToxiproxyError as exc:
            if "HTTP 404" in str(exc):
                return False
            raise
        return True

    def toxics(self, proxy: str | None = None) -> list[str]:
        """'proxy/toxic' for every toxic present (on one proxy, or on all)."""
        out = []
        for name, p in self.proxies().items():
            if proxy is None or name == proxy:
                out.extend(f"{name}/{t.get('name')}" for t in p.get("toxics") or [])
        return out

    def reset(self) -> None:
        """Every proxy enabled again, every toxic removed."""
        self._call("POST", "/reset", ok=(204, 200))

    def close(self) -> None:
        self._client.close()
