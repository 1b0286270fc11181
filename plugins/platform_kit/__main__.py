"""``python -m platform_kit ...`` runs the ``platform-kit`` command (for images without the script)."""

import sys

from platform_kit.cli import main

sys.exit(main())
