"""The displays' pages: the organiser's console (console_views) and what a screen
opens with its secret link (screen_views). Importing them attaches them to the blueprint."""

from experience.displays import bp, console_views, screen_views  # noqa: F401
