"""Base models and adapters shared by training, evaluation and chat (the embedded SmolLM2, adapter checks)."""
