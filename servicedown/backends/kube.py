"""The Kubernetes API server, asked as `kubectl` asks it: plain REST calls returning JSON, and
`kubectl exec` over the API's websocket. Every call bounded (a connect and a read bound, no
retry: an unreachable API fails within its bound).

The `kubernetes` client supplies only the configuration (--kubeconfig, the in-cluster service
account, or the default kubeconfig) and its transport.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
import time
from typing import Any
from urllib.parse import quote

import urllib3
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException
from kubernetes.stream import ws_client

from servicedown.backends.command import TIMED_OUT, BackendError, CallTimeout, CommandResult, within
from servicedown.redact import clip

USER_AGENT = "servicedown/kubernetes-target"


class ApiError(BackendError):
    """The API answered with an error status; the message is the API's own."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status


def first_line(exc: object) -> str:
    text = str(exc).strip().splitlines()
    return clip(text[0] if text else type(exc).__name__, 240)


def exit_status(error_channel: str) -> int | None:
    """The exec's exit code from the API's error channel: 0 on Success, the ExitCode cause
    otherwise; None when the exec itself was refused (no kubelet, no such container...)."""
    try:
        status = json.loads(error_channel or "{}")
    except ValueError:
        return None
    if status.get("status") == "Success":
        return 0
    causes = (status.get("details") or {}).get("causes") or []
    code = next((c.get("message") for c in causes if c.get("reason") == "ExitCode"), None)
    try:
        return int(code) if code is not None else None
    except ValueError:
        return None


class KubeBackend:
    """One API server, by a kubeconfig path ('' = in-cluster, else the default kubeconfig).
    `namespace` only words the messages about missing permissions."""

    def __init__(self, kubeconfig: str, timeout_s: float, namespace: str = "") -> None:
        bound = max(float(timeout_s), 1.0)
        self.timeout = (min(3.0, bound), bound)  # (connect, read) of every request
        self.kubeconfig = kubeconfig
        self.namespace = namespace
        self.server = ""
        self.source = ""
        self._api: Any = None
        self._config: Any = None
        self._lock = threading.Lock()

    def now(self) -> float:
        return time.time()

    # --- the client -----------------------------------------------------------------------
    def api(self) -> Any:
        with self._lock:
            if self._api is None:
                self._api = self._connect()
            return self._api

    def _connect(self) -> Any:
        cfg = client.Configuration()
        path = self.kubeconfig
        try:
            if path:
                if not os.path.isfile(path):
                    raise BackendError(f"kubeconfig '{path}' does not exist; give --kubeconfig the "
                                       "path of a readable kubeconfig (or SERVICEDOWN_KUBECONFIG)")
                config.load_kube_config(config_file=path, client_configuration=cfg,
                                        persist_config=False)
                self.source = f"kubeconfig {path}"
            elif os.environ.get("KUBERNETES_SERVICE_HOST"):
                config.load_incluster_config(client_configuration=cfg)
                self.source = "in-cluster service account"
            else:
                config.load_kube_config(client_configuration=cfg, persist_config=False)
                self.source = "kubeconfig " + os.environ.get("KUBECONFIG", "~/.kube/config")
        except BackendError:
            raise
        except Exception as exc:  # ConfigException, a missing file, YAML errors
            raise BackendError(
                f"no usable Kubernetes configuration ({first_line(exc)}); give --kubeconfig PATH "
                "(or SERVICEDOWN_KUBECONFIG, KUBECONFIG), or run inside the cluster") from None
        cfg.retries = 0  # one attempt: a dead API must fail within its bound, not four times
        self._config = cfg
        self.server = cfg.host
        api = client.ApiClient(cfg)
        api.user_agent = USER_AGENT  # names this tool in the API server's audit log
        return api

    # --- REST -----------------------------------------------------------------------------
    def request(self, method: str, path: str, query: dict[str, Any] | None = None,
                body: Any = None, accept: str = "application/json",
                content_type: str | None = None) -> bytes:
        """One bounded REST call -> the body; ApiError for an error status, BackendError when
        the API cannot be reached."""
        api = self.api()
        headers = {"Accept": accept}
        if content_type:
            headers["Content-Type"] = content_type
        try:
            params = api.param_serialize(
                method=method, resource_path=path,
                query_params=[(k, v) for k, v in (query or {}).items() if v is not None],
                header_params=headers, body=body, auth_settings=["BearerToken"])
            resp = api.call_api(*params, _request_timeout=self.timeout)
            resp.read()
        except ApiException as exc:  # the client wraps TLS and transport failures this way
            raise self.unreachable(exc.reason or exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.unreachable(exc) from None
        if 200 <= resp.status < 300:
            return resp.data
        try:
            message = json.loads(resp.data).get("message") or resp.reason
        except (ValueError, AttributeError):
            message = clip((resp.data or b"").decode("utf-8", "replace"), 240) or resp.reason
        raise ApiError(resp.status, clip(message, 400))

    def watch(self, path: str, query: dict[str, Any] | None = None,
              timeout_s: float = 30.0) -> Any:
        """`?watch=true` on a collection: yields its watch events ({"type", "object"}) as the API
        sends them, until the API ends the watch after `timeout_s` (its timeoutSeconds). Every
        read is bounded by timeout_s plus a margin, so an API that stops answering raises
        BackendError instead of holding the caller; an error status raises ApiError."""
        api = self.api()
        params = {**(query or {}), "watch": "true", "timeoutSeconds": int(timeout_s),
                  "allowWatchBookmarks": "true"}
        try:
            call = api.param_serialize(
                method="GET", resource_path=path,
                query_params=[(k, v) for k, v in params.items() if v is not None],
                header_params={"Accept": "application/json"}, auth_settings=["BearerToken"])
            resp = api.call_api(*call, _request_timeout=(self.timeout[0], timeout_s + 10))
        except ApiException as exc:
            raise self.unreachable(exc.reason or exc) from None
        except (urllib3.exceptions.HTTPError, OSError) as exc:
            raise self.unreachable(exc) from None
        raw = resp.response  # urllib3's response, not read yet
        try:
            if not 200 <= raw.status < 300:
                body = raw.read()
                try:
                    message = json.loads(body).get("message") or raw.reason
                except (ValueError, AttributeError):
                    message = body.decode("utf-8", "replace")[:240] or raw.reason
                raise ApiError(raw.status, str(message)[:400])
            pending = b""
            try:
                for chunk in raw.stream(4096, decode_content=True):
                    pending += chunk
                    *lines, pending = pending.split(b"\n")
                    for line in lines:
                        if line.strip():
                            yield json.loads(line)
            except (urllib3.exceptions.HTTPError, OSError, ValueError) as exc:
                raise self.unreachable(exc) from None
        finally:
            with contextlib.suppress(Exception):
                raw.close()  # a watch cut short leaves unread bytes: the connection goes

    def get(self, path: str, query: dict[str, Any] | None = None) -> dict:
        """GET -> the JSON object; a 401/403 becomes a message that says which permission."""
        try:
            return json.loads(self.request("GET", path, query))
        except ApiError as exc:
            if exc.status in (401, 403):
                raise self.forbidden(exc) from None
            raise

    def unreachable(self, exc: object) -> BackendError:
        return BackendError(
            f"cannot reach the Kubernetes API at {self.server or '?'} ({first_line(exc)}); check "
            f"that the cluster is up and that {self.source or 'the kubeconfig'} points at it "
            "(kubectl cluster-info)")

    def forbidden(self, exc: ApiError) -> BackendError:
        if exc.status == 401:
            return BackendError(f"unauthorized: the API at {self.server} did not accept the "
                                f"credentials of {self.source or 'this kubeconfig'} ({exc}); "
                                "renew them (kubectl get pods -n NAMESPACE shows the same)")
        return BackendError(
            f"forbidden: {exc}; the credentials of {self.source or 'this kubeconfig'} need get/list "
            f"on pods, pods/log, events and deployments in namespace '{self.namespace}' "
            "(and patch on deployments for --remediate)")

    # --- exec -----------------------------------------------------------------------------
    def exec(self, namespace: str, pod: str, container: str, argv: list[str],
             timeout: float) -> CommandResult | None:
        """`kubectl exec` through the API's exec stream, bounded; None when the API refuses
        (no kubelet behind it, RBAC without pods/exec, no running container)."""
        try:
            return within(lambda: self._exec(namespace, pod, container, argv, timeout),
                          timeout + self.timeout[0] + 5, f"exec in pod {pod}")
        except CallTimeout:
            return CommandResult(TIMED_OUT, "", f"exec in pod {pod} did not finish within {timeout:g} s")
        except Exception:  # refused upgrade, 403, transport failure
            return None

    def _exec(self, namespace: str, pod: str, container: str, argv: list[str],
              timeout: float) -> CommandResult | None:
        """One exec over the API's websocket (what `kubectl exec` does).

        The websocket is opened directly rather than through CoreV1Api and `stream()`:
        that one swaps the shared client's transport while it runs (the concurrent checks'
        REST calls would go over the websocket), and building CoreV1Api costs a second."""
        api = self.api()
        query = [("command", a) for a in argv] + [
            ("container", container), ("stdout", "true"), ("stderr", "true"), ("stdin", "false"),
            ("tty", "false")]
        _, url, headers, _, _ = api.param_serialize(
            method="GET", resource_path=f"/api/v1/namespaces/{quote(namespace)}/pods/{quote(pod)}/exec",
            query_params=query, header_params={}, auth_settings=["BearerToken"])
        ws = ws_client.websocket_call(self._config, "GET", url, headers=headers,
                                      _preload_content=False, _request_timeout=self.timeout)
        try:
            ws.run_forever(timeout=timeout)
            if ws.is_open():
                return CommandResult(TIMED_OUT, ws.read_stdout(), f"did not finish within {timeout:g} s")
            out, err = ws.read_stdout() or "", ws.read_stderr() or ""
            rc = exit_status(ws.read_channel(ws_client.ERROR_CHANNEL))
            return None if rc is None else CommandResult(rc, out, err)
        finally:
            ws.close()

    def close(self) -> None:
        with self._lock:
            if self._api is not None:
                with contextlib.suppress(Exception):  # closing must never fail a run
                    self._api.close()
                self._api = None
