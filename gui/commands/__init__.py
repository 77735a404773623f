"""One module per ``mirrorscope`` sub-command (see :mod:`gui.cli`)."""
