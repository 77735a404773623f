"""What a person touches: the command line, the Qt windows, the terminal monitor."""
