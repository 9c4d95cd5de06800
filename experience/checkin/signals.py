"""What check-in asks of the capabilities above it (ratings), without importing them."""

from blinker import Namespace

_signals = Namespace()

#: A check-in is about to be undone. Sent with the guest as sender; a receiver that
#: must keep the check-in (ratings: the guest has rated) raises a RuleError.
undoing_check_in = _signals.signal("undoing-check-in")
