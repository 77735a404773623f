"""Everything that touches LSL or files: streams in, streams out, the live runner."""

from pathlib import Path

#: Machine-scope liblsl configuration: discovery stays on 127.0.0.1.
LOCAL_LSL_CONFIG = Path(__file__).with_name("lsl_local.cfg")
