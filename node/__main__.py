"""``python -m node run --config supervisor.yaml`` (and every ``orbital`` command)."""

import sys

from .cli import main

sys.exit(main())
