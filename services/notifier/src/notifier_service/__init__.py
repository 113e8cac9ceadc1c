"""The notifier: follows the event streams of roster, requests and matching and delivers signed webhooks."""
