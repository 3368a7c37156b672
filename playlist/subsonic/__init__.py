"""Subsonic / OpenSubsonic servers (Navidrome, Gonic, Airsonic, Ampache, supysonic…): `client`
(the REST API), `credentials` (flags, environment, the stored sign-in), `links` (server songs ↔
indexed tracks), `streamed` (songs not on this machine, embedded by streaming), `verbs` (the
playlist verbs writing server playlists), `proxy` (sonic similarity for any server)."""
