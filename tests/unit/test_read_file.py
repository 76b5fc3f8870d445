"""Targets that read a file with `head -c` (systemd, Kubernetes) say a folder is a folder."""

import pytest

from servicedown.backends.command import UnreadableFile
from servicedown.config import Settings
from servicedown.targets.systemd import SystemdTarget
from tests.fakes import FailingHost


def test_a_folder_is_named_a_folder_not_missing():
    host = FailingHost("head: error reading '/etc/qbitel/tls': Is a directory\n")
    with pytest.raises(UnreadableFile, match="/etc/qbitel/tls is a folder, not a file"):
        SystemdTarget(Settings(target="systemd"), backend=host).read_file("/etc/qbitel/tls", 100)


def test_a_missing_file_is_none():
    host = FailingHost("head: cannot open '/nope' for reading: No such file or directory\n")
    assert SystemdTarget(Settings(target="systemd"), backend=host).read_file("/nope", 100) is None
