"""Where printing/'s bundled files are (templates, fonts). Loads nothing else."""

from __future__ import annotations

from pathlib import Path
from typing import Final

PACKAGE_ROOT: Final = Path(__file__).resolve().parent
