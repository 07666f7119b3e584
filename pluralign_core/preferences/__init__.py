"""Stage 4, preference data: ratings turned into DPO pairs under explicit choices, juries, exports.

``config`` owns :class:`PreferenceConfig` and its word lists, ``build`` applies them, ``judgements`` turns a
response pair's judgements into training rows under one rule for every mode, ``jury`` reweights raters to
target proportions, ``export`` saves a preference set where trl and ``datasets`` can read it.
"""
