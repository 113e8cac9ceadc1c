"""MNR Expert Roster matching service."""
