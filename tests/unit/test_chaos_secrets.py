"""The chaos journal masks what it records with the stack's secrets, and the chaos stack's
engine can be given a deployment's own variables (and secrets) from an env file."""

import json

import pytest

from servicedown.chaos.journal import Journal
from servicedown.chaos.stack import StackConfig, StackError
from servicedown.redact import Redactor

SECRET = "Jr8" + "vQ2xN7kP" * 4


def test_the_journal_masks_its_file_json_progress_and_excerpt(tmp_path):
    echoed: list[str] = []
    journal = Journal(tmp_path / "journal.jsonl", echo=echoed.append, redactor=Redactor([SECRET]))
    journal.note("exp", "inject", f"set to {SECRET}", detail=f"value {SECRET}", nested={"v": [SECRET]})
    with pytest.raises(RuntimeError), journal.activity("exp", "revert", "undo"):
        raise RuntimeError("y" * 290 + " " + SECRET)
    texts = [(tmp_path / "journal.jsonl").read_text(), json.dumps(journal.to_json()),
             journal.excerpt("exp"), "\n".join(echoed)]
    assert all(SECRET[:6] not in t for t in texts), texts
    assert "***" in texts[0]


def test_engine_env_file(tmp_path):
    env_file = tmp_path / "engine.env"
    env_file.write_text("# a deployment's extras\nSMTP_PASS=abc123xyz\nDATABASE_PASSWORD='pw with space'\n")
    config = StackConfig.from_env({"QBITEL_ENGINE_ENV_FILE": str(env_file)})
    assert dict(config.engine_env) == {"SMTP_PASS": "abc123xyz", "DATABASE_PASSWORD": "pw with space"}
    assert StackConfig.from_env({}).engine_env == ()


def test_an_unreadable_env_file_is_one_message(tmp_path):
    with pytest.raises(StackError, match="QBITEL_ENGINE_ENV_FILE '.*nope.env' cannot be read"):
        StackConfig.from_env({"QBITEL_ENGINE_ENV_FILE": str(tmp_path / "nope.env")})
