"""Admission, then sending: the one way a build reaches the workers.

The dispatcher (in Redis) decides which builds start; each admitted build must
then be sent to the broker. A build whose message cannot be sent fails with a
reason its tickets show, and its slot is given back: otherwise it would hold
a slot with nothing to run it until the sweep's reclaim. The API (after a new
build) and every task (a build's end, a delete, the sweep) go through here.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from filegate.scheduling.dispatcher import Admission
from filegate.state import builds
from filegate.state.scripts import Call

log = logging.getLogger(__name__)

UNSENT_REASON = "the build queue cannot be reached"


@dataclass(slots=True)
class Sent:
    """What sending the admitted builds did."""

    sent: list[Admission] = field(default_factory=list)
    unsent: list[Admission] = field(default_factory=list)

    def failures(self) -> list[Call[int]]:
        """The calls that fail each unsent build and give its slot back; run them on either client."""
        return [builds.fail_unsent(admitted.build_id, UNSENT_REASON) for admitted in self.unsent]


def send_admitted(admitted: Sequence[Admission], send: Callable[[Admission], None]) -> Sent:
    """Send each admitted build with ``send`` (blocking: the API runs this in a thread)."""
    result = Sent()
    for admission in admitted:
        try:
            send(admission)
        except Exception:
            log.exception("could not send build %s to the workers", admission.build_id)
            result.unsent.append(admission)
        else:
            result.sent.append(admission)
    return result
