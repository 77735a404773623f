"""Suite-wide settings that must be in place before pylsl or Qt is first imported."""

import os
from pathlib import Path

# LSL stays on this machine: discovery on 127.0.0.1 only (see ../shared/DESIGN.md).
os.environ["LSLAPICFG"] = str(Path(__file__).parents[1] / "acquisition" / "lsl_local.cfg")
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
