"""Test and benchmark tools for MNR Expert Roster: synthetic data, the reference scorer (never shipped)."""
