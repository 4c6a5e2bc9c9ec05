"""Shadow mode: a candidate judges live frames beside production without affecting or delaying a decision.

``inspector model shadow CANDIDATE --parts N`` writes the sealed shadow order
(``<registry>/shadow.json``, owner-only, sealed with the audit key like the
production pointer). The detector sees it between parts and starts a shadow
worker: a thread at the lowest CPU priority (nice 19, its ONNX Runtime
threads too, one intra-op thread) with the candidate in the slot's decision
settings. After a part's verdict has been sent, the detector offers the
frame to the worker; if the worker is still busy with an earlier part the
frame is skipped and counted, so production never waits for the shadow.

Every compared part is recorded in ``<registry>/shadow/<run>/shadow.db``:
both decisions and scores; for a disagreement also both reasons and the
image. After N compared parts the worker writes ``report.json`` and
``report.md`` beside it (agreement, disagreements both ways, reject rates,
skipped frames), raises an info alarm ``shadow_report`` and stops; the run
is audited.

The seams, one module each: :mod:`~inspector.modelops.shadow.order` (the
sealed order, CLI and HMI side), :mod:`~inspector.modelops.shadow.record`
(the run's SQLite record and what a review screen reads from it),
:mod:`~inspector.modelops.shadow.report` (the finished run's report) and
:mod:`~inspector.modelops.shadow.runner` (the detector's worker thread).
"""

from inspector.modelops.shadow.order import (
    ORDER,
    ORDER_FORMAT,
    SEAL_PURPOSE,
    SHADOW,
    ShadowOrder,
    order_path,
    read_order,
    run_folder,
    start_shadow,
    stop_shadow,
)
from inspector.modelops.shadow.record import ShadowRecord, disagreements, shadow_summary
from inspector.modelops.shadow.report import report_markdown, shadow_reject_rate
from inspector.modelops.shadow.runner import ShadowRunner

__all__ = [
    "ORDER", "ORDER_FORMAT", "SEAL_PURPOSE", "SHADOW", "ShadowOrder", "order_path", "read_order", "run_folder",
    "start_shadow", "stop_shadow", "ShadowRecord", "disagreements", "shadow_summary", "report_markdown",
    "shadow_reject_rate", "ShadowRunner",
]
