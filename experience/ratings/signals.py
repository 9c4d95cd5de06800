"""What ratings tell the capabilities above them (the display screens) without importing them."""

from blinker import Namespace

_signals = Namespace()

#: An organiser approved or withdrew a rating's comment or photo for public use. Sent with
#: the rating as sender, ``what`` ("comment" or "photo"), ``approved`` and ``now``.
rating_moderated = _signals.signal("rating-moderated")
