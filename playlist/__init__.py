"""Playlist tools over an indexed music library, one sub-package per part:

- `playlist.library`: the library index: SQLite store, FAISS index, indexer, file scan, tags.
- `playlist.geometry`: a playlist as a region of embedding space and the verbs over it
  (check, extend, expand, fill, transition, plot).
- `playlist.spotify`: importing and exporting Spotify playlists onto local files.
- `playlist.m3u`: reading and writing m3u/m3u8 files; `playlist.synthetic`: made-up catalogues.
- `playlist.network`: why an HTTP request failed, in a few words (the Spotify and Subsonic bridges).
"""
