"""Stage 4, preference data: ratings turned into DPO pairs under explicit choices, juries, exports.

``config`` owns :class:`PreferenceConfig` and its word lists, ``build`` applies them, ``jury`` reweights
raters to target proportions, ``export`` saves a preference set where trl and ``datasets`` can read it.
"""
