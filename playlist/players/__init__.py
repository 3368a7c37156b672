"""Music players the playlist verbs drive directly (MPD), instead of through m3u files."""
