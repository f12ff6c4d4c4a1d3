"""Train one forecaster (or, with ``-m``, one per combination of overrides) and return its metric.

    python train.py                                    # embedded synthetic livestream
    python train.py data.path=../shared/data/douyin_livestream_2019-12-02.csv
    python train.py -m model.layers=1,2,3              # three runs
"""

from sweepcast.console import quiet, starting

quiet()  # before the heavy imports: library chatter off unless SWEEPCAST_VERBOSE=1 (see sweepcast.console)
starting("train.py")  # the first line, before seconds of imports

import hydra  # noqa: E402
from omegaconf import DictConfig  # noqa: E402


@hydra.main(version_base="1.3", config_path="conf", config_name="train")
def main(cfg: DictConfig) -> float:
    from sweepcast.job import main as run_job
    from sweepcast.redaction import forget_job_credentials, refuse_job_storage

    try:
        refuse_job_storage()  # a single run's hydra.sweeper.storage from a config file (a sweep checks its own)
        return run_job(cfg)
    finally:  # a refused URL password: Hydra already copied it into the job's .hydra/, which goes
        forget_job_credentials(cfg)


if __name__ == "__main__":
    import sys

    from sweepcast.sweeper.space import command_line_error

    problem = command_line_error(sys.argv[1:])
    if problem:  # e.g. model.dropout=interval(0.5): one line instead of Hydra's grammar dump; or a
        # URL password (tracking.uri=postgresql://u:pw@...), refused before Hydra writes any file
        print(f"error: {problem}", file=sys.stderr)
        sys.exit(2)
    main()
