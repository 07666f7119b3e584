"""Stage 5, group reward models: how a group of raters would score a response on one dimension.

``config`` holds :class:`RewardModelConfig` and the folder's file names, ``features`` the TF-IDF text
features, ``model`` the trained model and its pickle-free files, ``training`` the fit, held-out metrics and
registry, ``scoring`` the GRPO reward function that combines models.
"""
