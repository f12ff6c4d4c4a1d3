"""Storage URLs and command lines with their passwords masked, safe for logs, params and tags.

A sweep's storage may be ``postgresql://user:password@host/db``; the sweeper, the job, the
report and the CLI all print or record that URL (or the command line holding it), so the
masking lives in one place below all of them.
"""

from __future__ import annotations

STORAGE_KEY = "hydra.sweeper.storage"


def redact(url: str) -> str:
    """The URL with any password replaced by ``***``; an unparsable URL loses its credentials part."""
    # at call time: SQLAlchemy takes ~0.15 s to import, and most callers mask no URL at all
    from sqlalchemy.engine import make_url

    try:
        parsed = make_url(url)
        return url if parsed.password is None else parsed.render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - an unparsable URL is shown without its credentials part
        return url.split("@")[-1] if "@" in url else url


def redact_override(argument: str) -> str:
    """A command-line argument with any storage password masked (an ``${oc.env:...}`` value holds none)."""
    key, sep, value = argument.partition("=")
    if sep and key.lstrip("+~") == STORAGE_KEY and "${" not in value:
        return f"{key}={redact(value)}"
    return argument
