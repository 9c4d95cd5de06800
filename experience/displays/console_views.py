"""The organiser's console (phone-first): screens, playlists, commands."""
