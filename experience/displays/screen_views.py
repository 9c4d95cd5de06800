"""What a screen opens with its secret link, and the protocol it speaks (feed.py)."""
