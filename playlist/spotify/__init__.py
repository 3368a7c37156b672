"""Spotify playlists onto local files and back: `auth` (PKCE sign-in, token cache),
`client` (the Web API calls), `bridge` (import and export). Matching tracks by ISRC,
titles and artists lives in `playlist.track_matching`, shared with the other bridges."""
