"""The change feed matching follows, and the audit trail of every write."""
