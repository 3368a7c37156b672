"""Contrastive pretraining: data sources, mel cache, pair sampling, losses and the loop."""
