"""What screening tells the capabilities above it (the display screens) without importing them."""

from blinker import Namespace

_signals = Namespace()

#: A published selected work was withdrawn for a cause. Sent with the work as sender and
#: ``now``; display screens drop it from their playlists at their next sync.
work_withdrawn = _signals.signal("work-withdrawn")
