"""What events tell the capabilities above them (plans, guests, …) without importing them."""

from blinker import Namespace

_signals = Namespace()

#: An event was created, edited or cancelled. Sent with the event as sender and
#: ``kind`` (event_added, event_changed, event_cancelled, event_cancelled_launch),
#: ``actor``, ``now``, ``ip`` and the change's details. Plans flag a change made after
#: the province's plan went to HQ.
event_changed = _signals.signal("event-changed")
