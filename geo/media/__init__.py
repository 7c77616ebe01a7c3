"""Photos of appeals: :mod:`~geo.media.photos` (checked by content, metadata removed,
resized), :mod:`~geo.media.store` (files by content hash: a folder or S3),
:mod:`~geo.media.fetch` (a photo by its link, safe from server-side request forgery),
:mod:`~geo.media.gallery` (an appeal's photo rows: add, list, approve, serve).
"""
