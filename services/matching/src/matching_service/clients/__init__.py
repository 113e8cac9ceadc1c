"""Clients for the services matching calls: roster (feed, holds) and requests (status)."""
