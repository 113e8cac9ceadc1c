"""The calendar: unavailability and bookings (hold, confirm, release, find)."""
