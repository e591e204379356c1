"""See app.py."""
