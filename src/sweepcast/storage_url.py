"""Storage URLs as SQLAlchemy should open them: the PostgreSQL driver made explicit.

The sweeper opens a study's storage with these URLs and the report reopens it the same way, so
the rule lives below both of them.
"""

from __future__ import annotations


def with_driver(url: str) -> str:
    """``postgresql://`` and ``postgres://`` (Heroku-style, which SQLAlchemy refuses) through
    psycopg 3, the driver we ship; explicit, so the URL means the same under any SQLAlchemy."""
    for scheme in ("postgresql://", "postgres://"):
        if url.startswith(scheme):
            return "postgresql+psycopg://" + url[len(scheme):]
    return url
