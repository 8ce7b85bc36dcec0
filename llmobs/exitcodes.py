"""Exit codes: one meaning each, for every llmobs and llmbench command.

====  ==========================================================================
code  meaning
====  ==========================================================================
0     success: everything asked for was done (every target answered, every
      request succeeded)
1     runtime failure: a target, a server, a disk or a worker failed; what was
      measured before the failure is saved and the summary is printed
2     usage or input error: a bad flag, URL, config file, trace or dataset,
      refused before anything ran
130   interrupted: Ctrl-C or SIGTERM; the partial result is saved
====  ==========================================================================

``docs/errors.md`` is the user-facing copy of this table.
"""

from __future__ import annotations

from typing import Final

OK: Final = 0
FAILURE: Final = 1
USAGE: Final = 2
INTERRUPTED: Final = 130
