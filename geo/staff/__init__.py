"""Staff and channels: :mod:`~geo.staff.auth` (accounts, Argon2 passwords, channel API
keys, the demo users), :mod:`~geo.staff.accounts` (roles per city, the per-request account
check, revocation), :mod:`~geo.staff.tokens` (JWTs), :mod:`~geo.staff.login` (throttled
login), :mod:`~geo.staff.scope` (the scope of a request).
"""
