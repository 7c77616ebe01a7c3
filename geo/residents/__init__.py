"""A resident's own account (``/me``): :mod:`~geo.residents.codes` (one-time sign-in codes
sent to the contact left on an appeal, and the session token they buy),
:mod:`~geo.residents.account` (the resident's appeals; a comment, a photo, confirming or
disputing a fix, a rating — each only on the contact's own appeals, by row-level security
and the resident functions of migration 0018).
"""
