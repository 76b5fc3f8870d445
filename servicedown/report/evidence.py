"""One check's evidence as an HTML fragment: message, state, log excerpt, health body, timings.

Shared by the post-mortem page and the pytest-html extras. Every value goes through `redact`
(masking already happened in the library; this is the last gate) and then `html.escape`.
"""

from __future__ import annotations

import json
import re
from html import escape
from typing import Any

from servicedown.redact import clip, redact

MAX_TEXT = 4000  # characters of one evidence value shown; the JSON keeps everything
# Keys whose values read best as a block of lines (log lines, health bodies, probe output).
BLOCK_KEYS = ("matches", "body", "health_log", "recent_events", "output", "lines", "filesystems")
_CODE = re.compile(r"`([^`\n]+)`")


def text(value: object, limit: int = MAX_TEXT) -> str:
    """Masked, escaped, clipped text."""
    s = redact(value)
    if len(s) > limit:
        s = clip(s, limit) + f" [{len(s) - limit} more characters in the JSON]"
    return escape(s, quote=True)


def with_code(value: object) -> str:
    """Masked, escaped text where `backticked` runs (runbook commands) become <code>."""
    return _CODE.sub(r"<code>\1</code>", text(value))


def _block(value: Any) -> str:
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        body = "\n".join(value)
    elif isinstance(value, dict | list):
        body = json.dumps(value, indent=2, ensure_ascii=False, default=str)
    else:
        body = str(value)
    return f"<pre>{text(body)}</pre>"


def evidence_rows(evidence: dict[str, Any]) -> str:
    """A definition list: short values inline, long or structured ones as blocks."""
    if not evidence:
        return '<p class="muted">no evidence recorded</p>'
    out = ["<dl class=\"ev\">"]
    for key, value in evidence.items():
        out.append(f"<dt>{text(key, 120)}</dt>")
        long_text = isinstance(value, str) and ("\n" in value or len(value) > 160)
        if key in BLOCK_KEYS or isinstance(value, dict | list) or long_text:
            out.append(f"<dd>{_block(value)}</dd>")
        else:  # null and booleans as JSON spells them, as in the triage file
            shown = json.dumps(value) if value is None or isinstance(value, bool) else value
            out.append(f"<dd><code>{text(shown)}</code></dd>")
    out.append("</dl>")
    return "".join(out)


def check_fragment(check: dict[str, Any]) -> str:
    """The whole of one check: what it said, its state, timings and evidence."""
    outcome = str(check.get("outcome") or "unknown")
    duration = check.get("duration_s")
    took = f"{duration:.3f} s" if isinstance(duration, int | float) else "not recorded"
    return (f'<div class="check-ev"><p><span class="pill {text(outcome, 20)}">{text(outcome, 20)}</span> '
            f"<strong>{text(check.get('id', '?'), 200)}</strong> "
            f"<span class=\"muted\">runbook {text(check.get('runbook') or '-', 200)} · took {took}</span></p>"
            f"<pre class=\"msg\">{text(check.get('message') or '')}</pre>"
            f"{evidence_rows(check.get('evidence') or {})}</div>")
