"""Cross-service contracts of the MNR Expert Roster: auth, errors, pagination, HTTP, reference data."""

__version__ = "0.1.0"
