"""Stage 7, evaluation: answers to held-out prompts, scored by a classifier and group reward models."""
