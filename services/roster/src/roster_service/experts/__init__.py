"""Experts: creating, reading, editing, vetting, erasing and searching them."""
