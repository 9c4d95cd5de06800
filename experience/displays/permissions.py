"""Who runs an event's screens: whoever may edit the event (its province's staff and its
assigned organisers). HQ reads the country but does not run a venue's screens."""

from __future__ import annotations

from experience.core.permissions import can, rule


@rule("run_displays")
def _run_displays(user, event) -> bool:
    return can(user, "edit_event", event)
