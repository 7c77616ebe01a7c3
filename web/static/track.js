/* The appeal tracker: status, history, deadline and place of an appeal by its number.
   The public endpoint has no personal data, so neither has this page. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var map = Q.map(), pin = null;
  var out = document.getElementById('track-result');
  var form = document.getElementById('track-form'), input = document.getElementById('track-reg');

  function pick(a, base) { return a[base + '_' + lang] || a[base + '_ru'] || '—'; }

  function row(label, value) {
    return '<span>' + esc(label) + '</span><span>' + value + '</span>';
  }

  function render(data) {
    var a = data.appeal;
    var late = a.overdue ? '<span class="badge overdue">' + esc(t('overdue')) + '</span>'
      : '<span class="badge ok">' + esc(t('in_time')) + '</span>';
    var org = lang === 'kk' ? (a.organisation_kk || a.organisation_ru) : a.organisation_ru;
    var html = '<h2>' + esc(t('reg_number')) + ': <span id="track-number">' +
      esc(a.reg_number) + '</span></h2>' +
      '<p class="status-big" id="track-status">' + esc(Q.word('states', a.status)) + '</p>' +
      '<div class="kv">' +
      row(t('category'), esc(pick(a, 'category'))) +
      row(t('organisation'), esc(org || '—')) +
      row(t('address'), esc(pick(a, 'address'))) +  // the map's address, never free text
      row(t('channel'), esc(Q.word('channels', a.channel))) +
      row(t('created'), esc(Q.when(a.created_at))) +
      row(t('deadline'), esc(Q.when(a.deadline_at)) + ' ' + late) +
      (a.resolved_at ? row(t('resolved'), esc(Q.when(a.resolved_at))) : '') +
      (a.deferred_to_year ? row(t('deferred_to'), esc(a.deferred_to_year)) : '') +
      (a.repeat_of ? row(t('repeat_of'), esc(a.repeat_of)) : '') +
      (a.queue_yard ? row(t('queue'), '<a id="track-queue" href="/queue?city=' +
        encodeURIComponent(Q.config.city) + (lang !== 'ru' ? '&lang=' + lang : '') +
        '#yard-' + a.queue_yard + '">' + esc(t('me_queue_place')) + '</a>') : '') +
      ((data.media || []).length ? row(t('media'), '<span id="track-media">' +
        data.media.map(function (u, i) {
          return '<a href="' + esc(u) + '" target="_blank" rel="noopener noreferrer nofollow">' +
            (i + 1) + '</a>';
        }).join(' ') + '</span>') : '') +
      '</div><h3>' + esc(t('events')) + '</h3><table class="mini" id="track-history"><tr><th>' +
      esc(t('when')) + '</th><th>' + esc(t('change')) + '</th><th>' + esc(t('who')) +
      '</th></tr>' + data.history.map(function (e) {
        return '<tr><td>' + esc(Q.when(e.at)) + '</td><td>' +
          (e.from_status ? esc(Q.word('states', e.from_status)) + ' → ' : '') +
          esc(Q.word('states', e.to_status)) + '</td><td>' + esc(e.actor_role ? Q.word('roles', e.actor_role) : '') +
          (e.organisation_ru ? ' · ' + esc(e.organisation_ru) : '') + '</td></tr>';
      }).join('') + '</table>' +
      /* what the staff wrote to the resident (public notes; never who wrote them) */
      ((data.notes || []).length ? '<h3>' + esc(t('track_notes')) +
        '</h3><ul class="notes" id="track-notes">' +
        data.notes.map(function (n) {
          return '<li><small>' + esc(Q.when(n.at)) + '</small><br>' + esc(n.body) + '</li>';
        }).join('') + '</ul>' : '');
    out.innerHTML = html;
    var ll = [a.lat, a.lon];
    if (pin) { pin.setLatLng(ll); } else {
      pin = L.circleMarker(ll, {radius: 10, color: '#b3261e', weight: 3, fillColor: '#f2b134',
        pane: Q.marks(),
        fillOpacity: 0.9}).addTo(map);
    }
    map.setView(ll, 17);
  }

  function find(reg) {
    reg = (reg || '').trim().toUpperCase();
    if (!reg) { return; }
    out.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    Q.api('/public/track/' + encodeURIComponent(reg), {auth: false}).then(render)
      .catch(function (e) {
        out.innerHTML = '<p class="error">' +
          esc(e.status === 404 ? t('not_found') : t('error') + ': ' + e.message) + '</p>';
      });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var url = new URL(window.location.href);
    url.searchParams.set('reg', input.value.trim());
    history.replaceState(null, '', url.pathname + url.search);
    find(input.value);
  });
  if (Q.config.reg) { find(Q.config.reg); }
})();
