"""What guests tell the capabilities above them (check-in), without importing them."""

from blinker import Namespace

_signals = Namespace()

#: A guest is about to be taken off the list (sent with the guest as sender, before the
#: row goes). Check-in detaches the guest's scan rows, which the log keeps.
guest_removing = _signals.signal("guest-removing")
