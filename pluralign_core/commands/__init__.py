"""CLI sub-commands, one module each (see :mod:`pluralign_core.cli`)."""
