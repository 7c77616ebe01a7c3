/* The work list: filters (kept in the address bar), counts per status, one page of the
   table, the same query on the map, CSV export; new and changed appeals arrive by the live
   stream and the list and the map refetch themselves. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var $ = function (id) { return document.getElementById(id); };
  var map = Q.map(), pane = Q.marks();
  var points = L.layerGroup().addTo(map);
  var form = $('filters');
  var LIMIT = 50;
  var state = {offset: 0, seen: null, seq: 0, timer: null, fitted: false, pending: null};
  Q.labels(map);
  Q.legend(map);
  var FIELDS = ['q', 'status', 'sort', 'group', 'category', 'district_id', 'organisation_id',
    'channel', 'since', 'until'];

  function pageHref(reg) { return Q.href('/staff/' + encodeURIComponent(reg)); }

  /* dates in the page's language (Qala.isoDate, Qala.shownDate) */
  var isoDate = Q.isoDate, shownDate = Q.shownDate;
  function value(name) {
    var v = form.elements[name].value.trim();
    return name === 'since' || name === 'until' ? isoDate(v) || '' : v;
  }

  /* --- the filters, as a query string (the address bar keeps them) ------------------- */
  function filters() {
    var p = new URLSearchParams();
    FIELDS.forEach(function (name) {
      var v = value(name);
      if (!v) { return; }
      if (name === 'since' || name === 'until') {
        /* a day of the city: from its first moment; "until" includes the day named */
        var d = new Date(v + 'T00:00:00');
        if (name === 'until') { d.setDate(d.getDate() + 1); }
        v = d.toISOString();
      }
      p.set(name, v);
    });
    if ($('f-overdue').checked) { p.set('overdue', 'true'); }
    if ($('f-due-today').checked) { p.set('due_today', 'true'); }
    return p;
  }

  function remember() {
    var p = new URLSearchParams();
    if (lang !== 'ru') { p.set('lang', lang); }
    if (Q.config.city_param) { p.set('city', Q.config.city); }
    FIELDS.forEach(function (name) {
      var v = value(name);
      if (v) { p.set(name, v); }
    });
    if ($('f-overdue').checked) { p.set('overdue', 'true'); }
    if ($('f-due-today').checked) { p.set('due_today', 'true'); }
    if (state.offset) { p.set('offset', state.offset); }
    var q = p.toString();
    history.replaceState(null, '', location.pathname + (q ? '?' + q : ''));
  }

  function restore() {
    var p = new URLSearchParams(location.search);
    FIELDS.forEach(function (name) {
      if (!p.has(name)) { return; }
      form.elements[name].value = name === 'since' || name === 'until' ?
        shownDate(p.get(name)) : p.get(name);
    });
    $('f-overdue').checked = p.get('overdue') === 'true';
    $('f-due-today').checked = p.get('due_today') === 'true';
    state.offset = Math.max(0, parseInt(p.get('offset') || '0', 10) || 0);
  }

  /* --- the lists the filters offer ----------------------------------------------------- */
  function fillSelect(select, items) {
    var keep = select.value || new URLSearchParams(location.search).get(select.name) || '';
    items.forEach(function (o) {
      var opt = document.createElement('option');
      opt.value = o.id;
      opt.textContent = (lang === 'kk' && o.name_kk) || o.name_ru;
      select.appendChild(opt);
    });
    select.value = keep;
  }

  function loadChoices() {
    if (loadChoices.done) { return; }
    loadChoices.done = true;
    Q.api('/api/v1/staff/districts').then(function (d) { fillSelect($('f-district'), d); });
    Q.api('/api/v1/staff/organisations').then(function (o) {
      fillSelect($('f-organisation'), o);
    });
  }

  /* the categories of the group chosen only */
  $('f-group').addEventListener('change', function () {
    var g = this.value, cat = $('f-category');
    Array.prototype.forEach.call(cat.options, function (o) {
      o.hidden = !!(g && o.value && o.getAttribute('data-group') !== g);
    });
    if (cat.selectedOptions[0] && cat.selectedOptions[0].hidden) { cat.value = ''; }
  });

  /* --- the list, its counts and the map ------------------------------------------------ */
  function load() {
    var rows = $('rows'), err = $('list-error');
    if (!Q.token()) {
      rows.innerHTML = '<tr><td colspan="5" class="hint">' + esc(t('login_needed')) + '</td></tr>';
      $('status-tabs').innerHTML = '';
      $('shown').textContent = '';
      points.clearLayers();
      return;
    }
    var p = filters(), mine = ++state.seq;
    p.set('limit', LIMIT);
    p.set('offset', state.offset);
    Q.api('/api/v1/staff/appeals?' + p.toString()).then(function (page) {
      if (mine !== state.seq) { return; }
      err.hidden = true;
      if (page.offset > 0 && page.offset >= page.total) {  /* the page emptied: go back */
        state.offset = Math.max(0, Math.floor((page.total - 1) / LIMIT) * LIMIT);
        load();
        return;
      }
      renderTabs(page.counts, page.counts_exact !== false, page.total);
      renderRows(page.items);
      renderPager(page);
      remember();
      countFilters();
    }).catch(function (e) {
      err.textContent = t('error') + ': ' + e.message;
      err.hidden = false;
    });
    var m = filters();
    Q.api('/api/v1/staff/appeals?format=geojson&' + m.toString()).then(function (fc) {
      if (mine !== state.seq) { return; }
      drawPoints(fc);
    }).catch(function () { /* the list says what went wrong */ });
  }

  function csvQuery() {
    var p = filters();
    p.set('format', 'csv');
    return p.toString();
  }

  /* exact: the counts are whole; else more than 10,000 matched and each count is "n+" */
  function renderTabs(counts, exact, cap) {
    var current = form.elements.status.value, total = 0, html = [];
    Object.keys(counts).forEach(function (s) { total += counts[s]; });
    html.push(tab('', t('all'), total, current === '', exact));
    Object.keys(counts).forEach(function (s) {
      if (counts[s] || s === current) {
        html.push(tab(s, Q.word('states', s), counts[s], s === current, exact));
      }
    });
    $('status-tabs').innerHTML = html.join('');
    $('counts-capped').hidden = exact;
    $('counts-capped').textContent = exact ? '' : t('counts_capped').replace(/\{n\}/g, cap);
  }

  function tab(status, label, n, on, exact) {
    return '<button type="button" class="tab' + (on ? ' current' : '') + '" data-status="' +
      esc(status) + '" aria-pressed="' + (on ? 'true' : 'false') + '">' + esc(label) +
      ' <b>' + esc(n) + (exact ? '' : '+') + '</b></button>';
  }

  $('status-tabs').addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-status]');
    if (!b) { return; }
    form.elements.status.value = b.getAttribute('data-status');
    state.offset = 0;
    load();
  });

  function catName(a) { return a['category_' + lang] || a.category_ru; }
  function orgName(a) { return (lang === 'kk' && a.organisation_kk) || a.organisation_ru || '—'; }

  /* one cell; on a phone it is a card's line, its label from data-label */
  function cell(label, html) {
    return '<td data-label="' + esc(t(label)) + '"><div>' + html + '</div></td>';
  }

  function renderRows(items) {
    var rows = $('rows'), before = state.seen;
    state.seen = {};
    if (!items.length) {
      rows.innerHTML = '<tr><td colspan="5" class="hint">' + esc(t('nothing_found')) + '</td></tr>';
      return;
    }
    rows.innerHTML = items.map(function (a) {
      state.seen[a.reg_number] = a.status;
      var fresh = before && before[a.reg_number] !== a.status;
      return '<tr data-reg="' + esc(a.reg_number) + '" data-status="' + esc(a.status) + '"' +
        (fresh ? ' class="fresh"' : '') + '>' +
        cell('reg_number', '<a href="' + esc(pageHref(a.reg_number)) + '">' +
          esc(a.reg_number) + '</a>') +
        cell('category', esc(catName(a)) +
          (a.address_text ? '<br><small>' + esc(a.address_text) + '</small>' : '')) +
        cell('status', '<span class="badge s-' + esc(a.status) + '">' +
          esc(Q.word('states', a.status)) + '</span>' + (a.overdue ?
          ' <span class="badge overdue">' + esc(t('overdue')) + '</span>' : '')) +
        cell('deadline', esc(Q.when(a.deadline_at))) +
        cell('organisation', esc(orgName(a))) + '</tr>';
    }).join('');
  }

  function renderPager(page) {
    var a = page.total ? page.offset + 1 : 0, b = Math.min(page.offset + page.limit, page.total);
    $('shown').textContent = t('shown_of').replace('{a}', a).replace('{b}', b)
      .replace('{n}', page.total + (page.counts_exact === false ? '+' : ''));
    $('prev').disabled = page.offset <= 0;
    $('next').disabled = page.offset + page.limit >= page.total;
  }

  $('prev').addEventListener('click', function () {
    state.offset = Math.max(0, state.offset - LIMIT);
    load();
  });
  $('next').addEventListener('click', function () {
    state.offset += LIMIT;
    load();
  });

  function drawPoints(fc) {
    points.clearLayers();
    var bounds = [];
    fc.features.forEach(function (f) {
      var c = f.geometry.coordinates, pr = f.properties;
      bounds.push([c[1], c[0]]);
      L.circleMarker([c[1], c[0]], {radius: 6, pane: pane, weight: pr.overdue ? 3 : 1,
        color: pr.overdue ? '#b3261e' : '#ffffff', fillOpacity: 0.9,
        fillColor: Q.statusColour(pr.status)})
        .bindPopup('<a href="' + esc(pageHref(pr.reg_number)) + '">' + esc(pr.reg_number) +
          '</a><br>' + esc(Q.word('states', pr.status)))
        .addTo(points);
    });
    if (bounds.length && !state.fitted) {
      state.fitted = true;
      fit(bounds);
    }
  }

  /* a hidden map (the list shown on a phone) has no size to fit to: fitted when shown */
  function fit(bounds) {
    var box = map.getContainer();
    if (!box.clientWidth || !box.clientHeight) { state.pending = bounds; return; }
    map.invalidateSize({pan: false});
    state.pending = null;
    map.fitBounds(bounds, {maxZoom: 15, padding: [20, 20]});
  }

  /* --- a narrow screen: the list or the map, one at a time ----------------------------- */
  function show(view) {
    document.body.setAttribute('data-view', view);
    Array.prototype.forEach.call($('view-switch').querySelectorAll('button'), function (b) {
      b.setAttribute('aria-pressed', b.getAttribute('data-view') === view ? 'true' : 'false');
    });
    if (view === 'map') {
      map.invalidateSize({pan: false});  /* it was drawn at no size while hidden */
      if (state.pending) { fit(state.pending); }
    }
  }
  $('view-switch').hidden = false;
  $('view-switch').addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-view]');
    if (b) { show(b.getAttribute('data-view')); }
  });
  /* back on a wide screen, the map beside the list takes its size again */
  window.matchMedia('(max-width: 900px)').addEventListener('change', function () {
    map.invalidateSize({pan: false});
    if (state.pending) { fit(state.pending); }
  });
  show('list');

  /* "Filters (2 active)": what the folded filters hold, said on their summary */
  function countFilters() {
    var n = FIELDS.filter(function (name) { return name !== 'sort' && value(name); }).length +
      ($('f-overdue').checked ? 1 : 0) + ($('f-due-today').checked ? 1 : 0);
    $('filters-summary').textContent = n ? t('filters_active').replace('{n}', n) : t('filters');
  }

  /* --- the form ------------------------------------------------------------------------ */
  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (!Q.checkDates(form, ['since', 'until'], $('list-error'))) { return; }
    state.offset = 0;
    state.fitted = false;
    load();
  });
  form.addEventListener('reset', function () {
    setTimeout(function () { state.offset = 0; load(); }, 0);
  });

  /* the export needs the token, which a plain link cannot send: fetched, then saved */
  $('export').addEventListener('click', function (ev) {
    ev.preventDefault();
    if (!Q.token()) { return; }
    fetch('/api/v1/staff/appeals?' + csvQuery() + '&city=' + encodeURIComponent(Q.config.city), {headers: {Authorization: 'Bearer ' + Q.token()}})
      .then(function (r) {
        if (!r.ok) { throw new Error(r.statusText); }
        return r.blob();
      }).then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'appeals.csv';
        document.body.appendChild(a);
        a.click();
        setTimeout(function () { URL.revokeObjectURL(a.href); a.remove(); }, 1000);
      }).catch(function (e) {
        $('list-error').textContent = t('error') + ': ' + e.message;
        $('list-error').hidden = false;
      });
  });

  /* --- live ---------------------------------------------------------------------------- */
  function soon() {  /* many changes at once (a bulk load) refetch once */
    if (state.timer) { return; }
    state.timer = setTimeout(function () { state.timer = null; load(); }, 250);
  }

  Q.live(function () { soon(); }, function (up) {
    var el = $('live');
    el.hidden = up === null;
    el.className = 'live' + (up ? ' on' : ' off');
    el.textContent = up ? t('live_on') : t('live_off');
    document.body.setAttribute('data-live', up ? 'on' : 'off');
  });

  /* on a phone the filters fold under their summary, so the list comes first */
  var phone = window.matchMedia('(max-width: 600px)');
  if (phone.matches) { $('filters-details').open = false; }
  phone.addEventListener('change', function (ev) { $('filters-details').open = !ev.matches; });
  restore();
  countFilters();
  Q.onAuth(function (w) {
    if (w) { loadChoices(); }
    state.seen = null;
    load();
  });
})();
