"""Stage 9, chat: models side by side on one shared base, with a lean CPU decoding loop and a sampler."""
