"""Passwords in URLs: refused wherever a URL enters (command line, config, environment, CLI
flags), and masked in what we print or record should one get through.

A URL may name a user (``postgresql://user@host/db``) but not carry a password: Hydra copies
every value into ``.hydra/*.yaml`` before our code runs, so masking alone cannot keep it off the
disk. The refusal and the masking live in one place below the entry point, the sweeper, the
job, the report and the CLI.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any, Iterator, Mapping

from sweepcast.errors import SweepcastError

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


# -- credentials in URLs are refused, not masked ------------------------------------------------
#
# Masking cannot be complete: Hydra writes every job's config, its hydra config and its override
# list to ``.hydra/*.yaml`` before any of our code runs, and a password typed into a URL would
# sit there in plain text. So a URL may name a user but never carry a password; PostgreSQL's
# comes from PGPASSWORD or ~/.pgpass (libpq reads both, psycopg 3 passes them through) and an
# MLflow server's from MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.

# scheme://user:password@ (the user may be empty; the password runs to the next '@', as
# SQLAlchemy reads it, so a '/' or ',' in it is still found)
URL_PASSWORD = re.compile(r"(?P<scheme>[A-Za-z][A-Za-z0-9+.-]*)://(?P<user>[^:/?#@\s]*):(?P<password>[^@]*)@")
QUERY_PASSWORD = re.compile(r"[?&](?:ssl)?password=[^&#\s]", re.IGNORECASE)  # libpq's ?password=...
URL_ENV = ("MLFLOW_TRACKING_URI", "SWEEPCAST_OPTUNA_STORAGE")  # the URLs our configs read from the environment


def redact_url_text(text: str) -> str:
    """Any text (an error message, a command line) with every URL password shown as ``***``;
    generous: a password is taken to run to the last '@' of its word."""
    text = re.sub(r"([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@\s]*):\S*@", r"\1:***@", text)
    return re.sub(r"([?&](?:ssl)?password=)[^&#\s]*", r"\1***", text, flags=re.IGNORECASE)


def credentials_problem(value: str) -> str | None:
    """Why ``value`` may not be used (it holds a URL with a password), without the password; or None."""
    found = URL_PASSWORD.search(value)
    if found is not None:
        return f"expected a URL without a password ({found['scheme']}://{found['user']}:***@…); {instead(found['scheme'])}"
    if "://" in value and QUERY_PASSWORD.search(value):
        scheme = value.split("://", 1)[0].rsplit(None, 1)[-1]
        return f"expected a URL without a password ({scheme}://…?password=***); {instead(scheme)}"
    return None


def instead(scheme: str) -> str:
    """Where the password of a URL of this scheme goes instead (nowhere Hydra or we write it down)."""
    scheme = scheme.lower()
    if scheme in ("http", "https"):
        return "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD instead"
    if scheme.startswith("postgres"):
        return "set PGPASSWORD or use ~/.pgpass instead (libpq reads both)"
    return "pass it through the environment instead (PostgreSQL: PGPASSWORD or ~/.pgpass)"


def strings_in(value: Any) -> Iterator[str]:
    """Every text in a parsed override value (a sweep's choices, a list's and a dict's items)."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, Mapping):
        for item in (*value.keys(), *value.values()):
            yield from strings_in(item)
    elif isinstance(value, (list, tuple, set)):
        for item in value:
            yield from strings_in(item)
    elif isinstance(getattr(value, "text", None), str):  # Hydra's QuotedString
        yield value.text
    elif hasattr(value, "__dict__"):  # ChoiceSweep(list=...), Glob(include=..., exclude=...), ...
        yield from strings_in(list(vars(value).values()))


def override_credentials_problem(key: str, value: Any) -> str | None:
    """``config key '<key>': ...`` when a parsed command-line value holds a URL password."""
    for text in strings_in(value):
        problem = credentials_problem(text)
        if problem:
            return f"config key '{key}': {problem}"
    return None


def environment_credentials_problem(environ: Mapping[str, str] | None = None) -> str | None:
    """``environment variable ...: ...`` when a URL our configs read from the environment holds a password."""
    environ = os.environ if environ is None else environ
    for name in URL_ENV:
        problem = credentials_problem(environ.get(name, ""))
        if problem:
            return f"environment variable {name}: {problem}"
    return None


def refuse_credentials(label: str, value: Any) -> None:
    """Raise the one-line :class:`SweepcastError` when ``value`` holds a URL password.

    ``label`` names where it came from: ``config key 'tracking.uri'``, ``--storage``, ..."""
    problem = credentials_problem(value) if isinstance(value, str) else None
    if problem:
        raise SweepcastError(f"{label}: {problem}")


def refuse_job_storage() -> None:
    """In a single run, a ``hydra.sweeper.storage`` with a password (from a config file: the
    command line and a sweep's own settings are checked earlier) ends the job in one line,
    exit status 2; the caller then removes the ``.hydra/`` copy (:func:`forget_job_credentials`)."""
    import logging
    import sys

    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized() or HydraConfig.get().mode == RunMode.MULTIRUN:
        return
    storage = _plain(HydraConfig.get().sweeper).get("storage")
    problem = credentials_problem(storage) if isinstance(storage, str) else None
    if problem:
        logging.getLogger("sweepcast.job").error("config key '%s': %s", STORAGE_KEY, problem)
        if os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise SweepcastError(f"config key '{STORAGE_KEY}': {problem}")
        sys.exit(2)


def forget_job_credentials(cfg: Any) -> bool:
    """After a job whose config holds a URL password (it was refused), remove the ``.hydra/``
    folder Hydra wrote for it, the only file that copies the config verbatim; True if removed.

    Hydra writes ``.hydra/config.yaml``, ``hydra.yaml`` and ``overrides.yaml`` before the job's
    code runs; the job's log holds only the refusal, which names no password."""
    from hydra.core.hydra_config import HydraConfig
    from omegaconf import OmegaConf

    if not HydraConfig.initialized():
        return False
    hydra = HydraConfig.get()
    texts = [*strings_in(_plain(cfg)), *strings_in(_plain(hydra.sweeper)), *strings_in(list(hydra.overrides.task)),
             *strings_in(list(hydra.overrides.hydra))]
    if not any(credentials_problem(text) for text in texts):
        return False
    output_dir = OmegaConf.select(hydra, "runtime.output_dir")
    folder = Path(str(output_dir)) / str(OmegaConf.select(hydra, "output_subdir") or ".hydra") if output_dir else None
    if folder is None or not folder.is_dir():
        return False
    shutil.rmtree(folder, ignore_errors=True)
    return True


def _plain(node: Any) -> Any:
    """A config node as plain containers, interpolations resolved where they can be (not where
    they cannot: a job refused for a missing variable still gets its folder checked)."""
    from omegaconf import DictConfig, ListConfig, OmegaConf

    if not isinstance(node, (DictConfig, ListConfig)):
        return node
    try:
        return OmegaConf.to_container(node, resolve=True)
    except Exception:  # noqa: BLE001 - unresolvable: the raw texts are what Hydra wrote anyway
        return OmegaConf.to_container(node, resolve=False)
