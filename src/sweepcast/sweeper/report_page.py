"""The sweep's ``report.html``, written once when the whole study is done."""

from __future__ import annotations

import logging

from sweepcast import tracking
from sweepcast.sweeper.events import SWEEP_LOG, SweepFinished, TrialFinished
from sweepcast.sweeper.plan import Plan

log = logging.getLogger(SWEEP_LOG)


class ReportPage:
    """Writes the report when the sweep ends with no trial left anywhere (``hydra.sweeper.report``)."""

    def __init__(self, plan: Plan) -> None:
        self.plan = plan

    def trial_finished(self, event: TrialFinished) -> None:
        """Nothing: a page per trial would cost more than most trials."""

    def sweep_finished(self, event: SweepFinished) -> None:
        if event.settled and self.plan.settings.report:
            self.write()

    def write(self) -> None:
        """The sweep's report page; a report that fails is a warning, never a failed sweep."""
        # here, not at the top: plotly and pandas load only when a page is written (never in the
        # extra worker processes, nor on machines whose sweep ends with trials still open)
        from sweepcast.report.sweep_report import write_report

        try:
            write_report(self.plan.sweep_dir, storage=self.plan.storage_url,
                         tracking_uri=tracking.resolve_tracking_uri(str(self.plan.tracking["uri"])))
        except Exception as err:  # noqa: BLE001 - the trials are done and recorded; the page is a bonus
            log.warning("sweep report not written (%s: %s); retry with: python -m sweepcast report %s",
                        type(err).__name__, err, self.plan.sweep_dir)
