"""One module per page, each holding what its route needs: its query parameters (``Params``)
and its view (``view(ctx, conn, params) -> html``), which reads from ``geo`` and renders the
page's template. The pages themselves are declared in :mod:`web.registry`.

:mod:`~web.pages.home` (the cards of the other pages), :mod:`~web.pages.operator` (the
operator console), :mod:`~web.pages.staff` (the staff work list), :mod:`~web.pages.appeal`
(one appeal for staff, ``/staff/{reg}``), :mod:`~web.pages.queue` (the public
yard-asphalting queue), :mod:`~web.pages.track` (a resident follows an appeal),
:mod:`~web.pages.planner` (the planner dashboard).
"""
