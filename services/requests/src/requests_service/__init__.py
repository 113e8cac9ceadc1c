"""MNR Expert Roster requests service."""
