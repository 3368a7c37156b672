"""A playlist as the convex hull of its tracks' embeddings (`hull`, `region`) and the
verbs over it: `extend` (and `check`), `expand`, `fill`, `transition`, `plot`; `catalog`
is the set of candidate tracks and `selection` the rules that pick among them."""
