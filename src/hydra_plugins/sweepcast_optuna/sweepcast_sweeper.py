"""Hydra finds sweepers only under the ``hydra_plugins`` namespace; the sweeper lives in
:mod:`sweepcast.sweeper`. (No ``hydra_plugins/__init__.py``: it would hide other plugins.)"""

from sweepcast.sweeper.optuna_sweeper import OptunaSweeper


class SweepcastSweeper(OptunaSweeper):
    """``hydra/sweeper=sweepcast``, the project's default for ``-m``."""
