"""Spotify playlists onto local files and back: `auth` (PKCE sign-in, token cache),
`client` (the Web API calls), `track_matching` (normalised titles and artists, no
network), `bridge` (import and export)."""
