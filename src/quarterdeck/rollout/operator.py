"""The rollout controller inside ``qd operator``: one supervised thread while leading.

Its CRD (Rollout, in the delivery group) is installed with delivery's. Notices go to
the notify controller's Notifier when it runs in the same process.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from quarterdeck.operator import Operator


def start_rollouts(op: Operator) -> Callable[[float], None]:
    from quarterdeck.notify import operator as notify
    from quarterdeck.rollout.controller import FIELD_MANAGER, RolloutController

    def publish(item: object) -> None:
        if notify.current is not None:
            notify.current.publish(item)  # type: ignore[arg-type]

    controller = RolloutController(
        op.connect(FIELD_MANAGER), namespace=op.config.namespace, publish=publish
    )
    stop = threading.Event()
    thread = op.supervisor.spawn("rollouts", lambda: controller.run(stop))

    def halt(grace: float) -> None:
        stop.set()
        thread.join(grace)

    return halt
