"""`myna serve`: a local web page with the library map and the playlist verbs."""
