"""A load run's host may carry credentials: Locust gets the URL without them (its reports
print the host), its users and the read-back send them as a header."""

import base64

from loadtests import credentials


def test_split_keeps_the_url_and_moves_the_credentials():
    assert credentials.split("http://monitor:p%40ss@engine:8000/") == ("http://engine:8000/", "monitor:p@ss")
    assert credentials.split("http://engine:8000") == ("http://engine:8000", None)


def test_headers_come_from_the_environment_only(monkeypatch):
    monkeypatch.delenv(credentials.AUTH_ENV, raising=False)
    assert credentials.headers() == {}
    monkeypatch.setenv(credentials.AUTH_ENV, "monitor:p@ss")
    assert credentials.headers() == {"Authorization": "Basic " + base64.b64encode(b"monitor:p@ss").decode()}
