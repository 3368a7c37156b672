"""Teachers for distillation: published models whose outputs the encoder learns to predict."""
