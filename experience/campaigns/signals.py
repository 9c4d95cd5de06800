"""What the campaign's pages ask of the capabilities above them, without importing them."""

from blinker import Namespace

_signals = Namespace()

#: Someone opens their start page. Sent with the campaign as sender and ``user``,
#: ``now`` and ``page``, a dict each receiver adds its panel's data to (``events``,
#: ``plan``, ``counts``), and where a receiver moves a deadline
#: (``page["extensions"][kind] = date``) or marks one done (``page["done"].add(kind)``).
home_opened = _signals.signal("home-opened")
