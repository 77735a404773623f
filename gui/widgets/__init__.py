"""Widgets of the experimenter and biofeedback windows."""
