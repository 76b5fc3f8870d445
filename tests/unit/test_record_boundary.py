"""Recording and replay at the backend boundary, without any platform: fake backends of the
real classes, answers made up by the test, the record/replay machinery exercised for real."""

from __future__ import annotations

import inspect
import json
import threading

import pytest

from servicedown.backends.command import BackendError, CallTimeout, CommandResult
from servicedown.backends.docker import DockerBackend
from servicedown.backends.host import HostBackend
from servicedown.backends.http import HttpAnswer
from servicedown.backends.kube import ApiError, KubeBackend
from servicedown.backends.network import NetworkBackend
from servicedown.record import codec
from servicedown.record.boundary import BOUNDARIES, boundary_of
from servicedown.record.recorder import Recorder, call_args
from servicedown.record.replayer import Replayer, UnrecordedCall


@pytest.mark.parametrize("b", BOUNDARIES.values(), ids=lambda b: b.name)
def test_every_public_method_is_a_call_or_declared_pure(b):
    public = {n for n, f in inspect.getmembers(b.cls, inspect.isfunction) if not n.startswith("_")}
    public.discard("now")
    known = set(b.calls) | set(b.pure) | set(b.streams)
    assert public == known, (
        f"{b.cls.__name__}: a method that asks the platform must be in boundary.py's calls, "
        f"one that only computes in pure: {sorted(public ^ known)}")
    assert set(b.acting) <= set(b.calls)


def test_a_replay_refuses_a_live_stream():
    with pytest.raises(UnrecordedCall, match="stream_events is a live stream"):
        _replayer([]).backend.stream_events({"a": "b"}, ("die",))


def test_boundary_of_an_unknown_object_names_the_known_ones():
    with pytest.raises(TypeError, match="DockerBackend"):
        boundary_of(object())


@pytest.mark.parametrize("value", [
    None, True, 3, 2.5, "text", [1, "a"], {"k": [1, {"n": None}]},
    b"\x00\xffbytes", CommandResult(3, "out", "err"), ("accepting", "detail"), {"a", "b"},
    HttpAnswer("http://x/health", 503, {"status": "unhealthy"}, "", 0.25, "", {"retry-after": "3"}),
    [CommandResult(0, "x"), (b"k", None)],
])
def test_codec_round_trips_through_json(value):
    doc = json.loads(json.dumps(codec.encode(value)))
    assert codec.decode(doc) == value
    assert type(codec.decode(doc)) is type(value)


def test_codec_refuses_what_cannot_cross():
    with pytest.raises(codec.CodecError, match="cannot record a object"):
        codec.encode(object())
    with pytest.raises(codec.CodecError, match="unknown recorded type"):
        codec.decode({"$type": "frobnicated"})


@pytest.mark.parametrize("exc", [
    BackendError("no socket"), ApiError(403, "pods is forbidden"), CallTimeout("exec: no answer"),
    TimeoutError("slow"), ValueError("bad"),
])
def test_exceptions_come_back_as_their_own_class_and_message(exc):
    back = codec.decode_error(json.loads(json.dumps(codec.encode_error(exc))))
    assert type(back) is type(exc) and str(back) == str(exc)
    if isinstance(exc, ApiError):
        assert back.status == 403


def test_an_exception_that_cannot_be_rebuilt_keeps_its_message():
    doc = {"$type": "raise", "class": "nowhere.module:Gone", "message": "it went"}
    back = codec.decode_error(doc)
    assert isinstance(back, BackendError) and str(back) == "it went"


def test_call_args_fill_defaults_and_names():
    a = call_args(DockerBackend, "events", ("c1", 1, 2), {})
    b = call_args(DockerBackend, "events", ("c1",), {"since": 1, "until": 2})
    assert a == b and a["container_id"] == "c1" and (a["since"], a["until"]) == (1, 2)
    assert isinstance(a["actions"], tuple)


class _Live:
    """Answers of a made-up platform, counting how often each was asked."""

    def __init__(self) -> None:
        self.asked: list[str] = []
        self.answers = {"c1": [{"Id": "c1", "n": 1}, {"Id": "c1", "n": 2}]}

    def containers(self, labels):
        self.asked.append("containers")
        return self.answers["c1"][min(len(self.asked) - 1, 1)]

    def logs(self, container_id, tail=None, since=None, timestamps=False):
        raise BackendError(f"no container {container_id}")


def _docker_recorded() -> tuple[Recorder, _Live, DockerBackend]:
    live = _Live()
    backend = DockerBackend(5.0, client=object())
    backend.containers = live.containers  # the platform, for this test
    backend.logs = live.logs
    backend.now = lambda: 1000.25
    return Recorder(backend), live, backend


def test_recorder_memoises_reads_and_freezes_the_clock():
    rec, live, backend = _docker_recorded()
    first = backend.containers({"a": "b"})
    assert backend.containers({"a": "b"}) == first == {"Id": "c1", "n": 1}
    assert live.asked == ["containers"]  # one question, one answer for the whole run
    assert backend.now() == backend.now() == 1000.25
    with pytest.raises(BackendError, match="no container x"):
        backend.logs("x", tail=5)
    snap = rec.snapshot()
    assert snap["clock"] == 1000.25 and snap["backend"] == "docker"
    methods = [(c["method"], c["times"]) for c in snap["calls"]]
    assert methods == [("containers", 2), ("logs", 1)]
    assert codec.is_error(snap["calls"][1]["answer"])


def test_concurrent_identical_calls_wait_for_the_first_answer():
    gate = threading.Event()
    calls = []

    class Slow:
        def containers(self, labels):
            calls.append(1)
            gate.wait(5)
            return [{"Id": "x"}]

    backend = DockerBackend(5.0, client=object())
    backend.containers = Slow().containers
    Recorder(backend)
    out = []
    threads = [threading.Thread(target=lambda: out.append(backend.containers({}))) for _ in range(4)]
    for t in threads:
        t.start()
    gate.set()
    for t in threads:
        t.join(5)
    assert calls == [1] and out == [[{"Id": "x"}]] * 4


def _replayer(calls, clock=5.0, backend="docker", state=None):
    snap = {"backend": backend, "clock": clock, "state": state or {}, "calls": calls}
    return Replayer(snap, lambda cls: cls.__new__(cls) if cls is not DockerBackend
                    else DockerBackend(5.0))


def _call(method, args, answer, times=1):
    return {"method": method, "args": codec.encode(args), "answer": codec.encode(answer), "times": times}


def test_replay_answers_in_order_then_repeats_the_last():
    args = {"labels": {"p": "q"}}
    r = _replayer([_call("containers", args, [{"n": 1}]), _call("containers", args, [{"n": 2}])])
    b = r.backend
    assert [b.containers({"p": "q"}) for _ in range(3)] == [[{"n": 1}], [{"n": 2}], [{"n": 2}]]
    assert b.now() == 5.0


def test_replay_raises_what_was_recorded_and_names_unrecorded_calls():
    err = ApiError(404, "namespaces \"x\" not found")
    r = _replayer([{"method": "request", "args": codec.encode(call_args(
        KubeBackend, "request", ("GET", "/api/v1/namespaces/x"), {})),
        "answer": codec.encode_error(err), "times": 1}], backend="kube",
        state={"server": "https://k:6443", "source": "kubeconfig k"})
    b = r.backend
    assert b.server == "https://k:6443"
    with pytest.raises(ApiError, match="not found") as got:
        b.request("GET", "/api/v1/namespaces/x")
    assert got.value.status == 404
    with pytest.raises(UnrecordedCall, match=r"kube\.request\(method='GET', path='/api/v1/pods'"):
        b.request("GET", "/api/v1/pods")
    assert r.unrecorded and "/api/v1/pods" in r.unrecorded[0]


def test_replay_never_reaches_a_platform():
    r = _replayer([])
    with pytest.raises(UnrecordedCall, match="live client was used directly"):
        r.backend.client.containers.list()
    r.backend.close()  # closing is harmless
    with pytest.raises(UnrecordedCall, match="clock was read"):
        _replayer([], clock=None).backend.now()


def test_host_probe_runs_on_top_of_replayed_commands():
    from servicedown.backends.host import PROBE

    res = CommandResult(0, "servicedown-probe\nhas-timeout\n")
    snap_calls = [_call("run", call_args(HostBackend, "run", (PROBE, 7.0), {}), res)]
    b = Replayer({"backend": "host", "clock": 1.0, "state": {}, "calls": snap_calls},
                 lambda cls: HostBackend("docker://x")).backend
    assert not b.probed
    assert b.probe(7.0) == {"has-timeout"}
    assert b.probed


def test_network_answers_are_http_answers():
    ans = HttpAnswer("http://e/health", 200, {"status": "healthy"}, elapsed_s=0.01)
    b = Replayer({"backend": "network", "clock": None, "state": {},
                  "calls": [_call("get", {"url": "http://e/health"}, ans)]},
                 lambda cls: NetworkBackend(1.0, False)).backend
    got = b.get("http://e/health")
    assert isinstance(got, HttpAnswer) and got == ans


def test_unknown_backend_in_a_snapshot():
    with pytest.raises(codec.CodecError, match="unknown backend 'ftp'"):
        Replayer({"backend": "ftp"}, lambda cls: None)
