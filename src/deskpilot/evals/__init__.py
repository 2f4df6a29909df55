"""Evaluations on labelled data sets: run by `deskpilot eval ...`, outside the test suite."""
