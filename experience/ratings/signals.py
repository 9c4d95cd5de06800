"""What ratings tell the capabilities above them (the display screens) without importing them."""

from blinker import Namespace

_signals = Namespace()

#: A rating's comment or photo was approved for public use, or is no longer (an organiser
#: withdrew it, or the guest changed it, which needs approving anew). Sent with the
#: rating as sender, ``what`` ("comment" or "photo"), ``approved`` and ``now``.
rating_moderated = _signals.signal("rating-moderated")
