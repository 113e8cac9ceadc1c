"""MNR Expert Roster roster service."""
