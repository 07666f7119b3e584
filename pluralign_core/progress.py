"""The one progress-callback type every long operation takes: ``progress(fraction, message)``.

``fraction`` runs from 0 to 1; ``message`` says what is happening in words a user reads. Pages turn the
calls into a progress bar, the CLI into lines on stderr, background jobs into their JSONL progress log.
"""

from __future__ import annotations

from collections.abc import Callable

ProgressCallback = Callable[[float, str], None]
