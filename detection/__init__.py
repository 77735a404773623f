"""The pure signal core: filters, envelopes, calibration, onsets, mirror logic, metrics.

Imports only the standard library, numpy and scipy (checked by import-linter). Times come from
sample timestamps, never from the wall clock.
"""
