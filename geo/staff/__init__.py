"""Staff and channels: :mod:`~geo.staff.auth` (users, Argon2 passwords, JWT tokens, channel
API keys, the demo users).
"""
