"""Define-by-run search spaces for the end-to-end tests: one as users write them, one that fills the disk."""

from __future__ import annotations

import os
import threading
import time
from typing import Any


def units_and_batch(cfg: Any, trial: Any) -> dict[str, Any]:
    """Two extra parameters chosen inside the trial, as hydra-optuna-sweeper users write them."""
    units = trial.suggest_categorical("model.units", [8, 12])
    return {"model.units": units, "trainer.batch_size": 16 if units == 8 else 32}


def fill_disk(cfg: Any, trial: Any) -> None:
    """At trial ``$FILL_DISK_AT``, fill the working directory's disk, ``$FILL_DISK_AFTER`` seconds
    later (in the middle of the trial's job) or at once, with a file called ``ballast``."""
    if str(trial.number) != os.environ.get("FILL_DISK_AT"):
        return None
    delay = float(os.environ.get("FILL_DISK_AFTER", "0"))
    if delay:
        threading.Thread(target=lambda: (time.sleep(delay), write_until_full("ballast")), daemon=True).start()
    else:
        write_until_full("ballast")
    return None


def write_until_full(path: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    try:
        while True:
            os.write(fd, b"x" * 65536)
    except OSError:
        pass
    finally:
        os.close(fd)
