"""TLS files as deployments really lay them out, read from a real engine container through the
Compose target: Let's Encrypt's `live/` folder is made of symlinks (relative ones, into
`archive/`), operators link their own paths to it (absolute ones, or a linked folder), and a
wrong setting can name a folder. A link is followed as the service's open() would; a folder is
refused with a message that says so, never read as "missing", and never streamed.

The container is created from the engine's image and never started (the archive API reads a
created container), labelled as a Compose project of its own, and removed after the test."""

from __future__ import annotations

import io
import os
import secrets
import tarfile
import time

import pytest

from servicedown.backends.command import UnreadableFile
from servicedown.chaos.certs import make_pair
from servicedown.config import Settings
from servicedown.targets.compose import PROJECT_LABEL, SERVICE_LABEL, ComposeTarget
from tests.fakes import results
from tests.support import docker_with_image

pytestmark = pytest.mark.compose

IMAGE = os.environ.get("QBITEL_ENGINE_IMAGE", "qbitel-engine:local")
LE = "etc/letsencrypt"
PAIR = make_pair()
# (path, link target or file content or None for a folder), made inside the container
LAYOUT: list[tuple[str, str | bytes | None]] = [
    (f"{LE}/archive/qbitel", None),
    (f"{LE}/archive/qbitel/cert1.pem", PAIR.cert_pem),
    (f"{LE}/archive/qbitel/privkey1.pem", PAIR.key_pem),
    (f"{LE}/live/qbitel", None),
    (f"{LE}/live/qbitel/cert.pem", "../../archive/qbitel/cert1.pem"),  # relative, as certbot
    (f"{LE}/live/qbitel/privkey.pem", "../../archive/qbitel/privkey1.pem"),
    ("etc/qbitel", None),
    ("etc/qbitel/tls", None),
    ("etc/qbitel/tls/cert.pem", f"/{LE}/live/qbitel/cert.pem"),  # absolute, then relative
    ("etc/qbitel/tls/key.pem", f"/{LE}/live/qbitel/privkey.pem"),
    ("etc/qbitel/tls/current", f"/{LE}/live/qbitel"),  # a linked folder in the middle
    ("etc/qbitel/tls/chain", "cert.pem"),  # relative to its own folder, then on
    ("etc/qbitel/tls/folder", None),
    ("etc/qbitel/tls/folder/readme.txt", b"not a certificate\n" * 1000),
    ("etc/qbitel/tls/loop-a", "loop-b"),
    ("etc/qbitel/tls/loop-b", "loop-a"),
    ("etc/qbitel/tls/to-folder", f"/{LE}/live/qbitel"),
    ("etc/qbitel/tls/dangling", "/etc/qbitel/tls/nothing-here.pem"),
]


def _tar() -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w") as tar:
        for path, what in LAYOUT:
            info = tarfile.TarInfo(path)
            info.mtime = int(time.time())
            if what is None:
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            elif isinstance(what, str):
                info.type, info.linkname = tarfile.SYMTYPE, what
                tar.addfile(info)
            else:
                info.size, info.mode = len(what), 0o644
                tar.addfile(info, io.BytesIO(what))
    return buf.getvalue()


@pytest.fixture(scope="module")
def engine_container():
    client = docker_with_image(IMAGE)
    project = f"sdtls-{secrets.token_hex(4)}"
    container = client.containers.create(
        IMAGE, name=project, labels={PROJECT_LABEL: project, SERVICE_LABEL: "qbitel-engine"})
    try:
        assert container.put_archive("/", _tar())
        yield project
    finally:
        container.remove(force=True, v=True)
        client.close()


def _target(project: str, cert: str = "", key: str = "") -> ComposeTarget:
    return ComposeTarget(Settings(target="compose", compose_project=project, tls_cert_file=cert,
                                  tls_key_file=key))


@pytest.mark.parametrize(("path", "expected"), [
    (f"/{LE}/live/qbitel/cert.pem", PAIR.cert_pem),  # relative link
    ("/etc/qbitel/tls/cert.pem", PAIR.cert_pem),  # absolute link to a relative one
    ("/etc/qbitel/tls/key.pem", PAIR.key_pem),
    ("/etc/qbitel/tls/current/cert.pem", PAIR.cert_pem),  # through a linked folder
    ("/etc/qbitel/tls/chain", PAIR.cert_pem),  # relative -> absolute -> relative
])
def test_links_are_followed_inside_the_container(engine_container, path, expected):
    assert _target(engine_container).read_file(path, 256 * 1024) == expected


@pytest.mark.parametrize(("path", "why"), [
    ("/etc/qbitel/tls/folder", "is a folder, not a file"),
    ("/etc/qbitel/tls/to-folder", "(a link to /etc/letsencrypt/live/qbitel) is a folder"),
    ("/etc/qbitel/tls/loop-a", "a loop of symbolic links"),
])
def test_what_is_not_a_file_says_why(engine_container, path, why):
    with pytest.raises(UnreadableFile, match=r".*" + why.replace("(", r"\(").replace(")", r"\)")):
        _target(engine_container).read_file(path, 256 * 1024)


def test_a_file_too_large_says_so_and_a_dangling_link_is_missing(engine_container):
    target = _target(engine_container)
    with pytest.raises(UnreadableFile, match="bytes, more than the 100 read"):
        target.read_file(f"/{LE}/archive/qbitel/cert1.pem", 100)
    assert target.read_file("/etc/qbitel/tls/dangling", 1000) is None
    assert target.read_file("/etc/qbitel/tls/absent.pem", 1000) is None


def test_tls_check_passes_with_lets_encrypt_links(engine_container):
    target = _target(engine_container, "/etc/qbitel/tls/cert.pem", "/etc/qbitel/tls/key.pem")
    result = results(target, ["startup.tls"])["startup.tls"]
    assert result.outcome == "pass", result.message


@pytest.mark.parametrize("folder", ["/etc/qbitel/tls/folder", "/etc/qbitel/tls/to-folder"])
def test_tls_check_names_a_folder_as_a_folder(engine_container, folder):
    target = _target(engine_container, folder, "/etc/qbitel/tls/key.pem")
    result = results(target, ["startup.tls"])["startup.tls"]
    assert result.outcome == "fail"
    assert "TLS_CERT_FILE" in result.message and "is a folder, not a file" in result.message
    assert "missing" not in result.message
