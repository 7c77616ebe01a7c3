/* The residents' public map: appeals at the object they are about (the appeals_map vector
   tiles), filtered by category or group, status and period; a click shows the public card
   and the photos staff approved. Nothing here carries anyone's name, phone or e-mail. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, conf = Q.config, lang = conf.lang;
  var map = Q.map(), layer = null;
  var form = document.getElementById('map-filters'), card = document.getElementById('map-card');
  var cat = document.getElementById('map-category'), status = document.getElementById('map-status');
  var period = document.getElementById('map-period');
  var hint = document.getElementById('map-zoom-hint');

  /* the category list by group: a whole group, or one category */
  var groups = {};
  conf.categories.forEach(function (c) { (groups[c.group] = groups[c.group] || []).push(c); });
  Object.keys(groups).sort().forEach(function (g) {
    var og = document.createElement('optgroup');
    og.label = Q.word('groups', g);
    var all = document.createElement('option');
    all.value = 'group:' + g;
    all.textContent = Q.word('groups', g) + ' — ' + t('map_all');
    og.appendChild(all);
    groups[g].forEach(function (c) {
      var o = document.createElement('option');
      o.value = c.code;
      o.textContent = c.name;
      og.appendChild(o);
    });
    cat.appendChild(og);
  });

  /* the filters live in the address bar */
  var url = new URL(window.location.href);
  ['category', 'status', 'days'].forEach(function (k) {
    var v = url.searchParams.get(k), el = form.elements[k];
    if (v && el && Array.prototype.some.call(el.options, function (o) { return o.value === v; })) {
      el.value = v;
    }
  });

  function query() {
    var p = new URLSearchParams({city: conf.city});
    var c = cat.value;
    if (c.indexOf('group:') === 0) {
      p.set('category', groups[c.slice(6)].map(function (x) { return x.code; }).join(','));
    } else if (c) { p.set('category', c); }
    if (status.value === 'open') { p.set('status', conf.open_states.join(',')); }
    if (status.value === 'closed') { p.set('status', conf.closed_states.join(',')); }
    var since = new Date(Date.now() - parseInt(period.value, 10) * 86400000);
    p.set('since', since.toISOString().slice(0, 10));
    return p.toString();
  }

  function style(props) {
    var colour = conf.colours[props.status] || '#555';
    /* a radius above 10: Leaflet 1.9 takes smaller circles for markers and asks the
       tile's points for a position they do not have (the tap is lost); and a finger's size */
    return {radius: 11, weight: props.overdue ? 4 : 2,
      color: props.overdue ? '#b3261e' : '#ffffff', fill: true, fillColor: colour,
      fillOpacity: 0.95};
  }

  /* the appeal's id is the tile's feature id (ST_AsMVT moves the id column out of the
     properties); copied into the properties the drawn point keeps, for a tap */
  function keepId(feature) {
    feature.properties.id = feature.id;
    return feature.id;
  }

  function draw() {
    if (layer) { map.removeLayer(layer); }
    layer = L.vectorGrid.protobuf('/tiles/appeals_map/{z}/{x}/{y}.pbf?' + query(), {
      // SVG: every point its own element, so a tap finds it (Leaflet.VectorGrid's canvas
      // hit-testing does not work with Leaflet 1.9)
      rendererFactory: L.svg.tile, interactive: true, pane: Q.marks(),
      minZoom: conf.minzoom, maxNativeZoom: 17, getFeatureId: keepId,
      vectorTileLayerStyles: {appeals_map: style}
    }).on('click', function (e) { show(e.layer.properties.id); }).addTo(map);
    var next = new URL(window.location.href);
    ['category', 'status', 'days'].forEach(function (k) {
      var v = form.elements[k].value;
      if (v && !(k === 'days' && v === String(conf.periods[0]))) { next.searchParams.set(k, v); }
      else { next.searchParams.delete(k); }
    });
    history.replaceState(null, '', next.pathname + next.search);
  }

  function zoomHint() { hint.hidden = map.getZoom() >= conf.minzoom; }

  function pick(a, base) { return a[base + '_' + lang] || a[base + '_ru'] || '—'; }
  function row(label, value) { return '<span>' + esc(label) + '</span><span>' + value + '</span>'; }

  function show(id) {
    card.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    var c = '?city=' + encodeURIComponent(conf.city);
    Q.api('/ogc/collections/appeals_map/items/' + id + c, {auth: false}).then(function (f) {
      var reg = f.properties.reg_number;
      return Promise.all([
        Q.api('/public/track/' + encodeURIComponent(reg) + c, {auth: false}),
        Q.api('/api/v1/appeals/' + encodeURIComponent(reg) + '/photos' + c, {auth: false})
      ]);
    }).then(function (got) {
      var a = got[0].appeal, photos = got[1];
      card.innerHTML = '<h2 id="map-card-reg">' + esc(a.reg_number) + '</h2><div class="kv">' +
        row(t('category'), esc(pick(a, 'category'))) +
        row(t('status'), '<b>' + esc(Q.word('states', a.status)) + '</b>' +
          (a.overdue ? ' <span class="badge overdue">' + esc(t('overdue')) + '</span>' : '')) +
        row(t('created'), esc(Q.when(a.created_at))) +
        row(t('deadline'), esc(Q.when(a.deadline_at))) +
        (a.resolved_at ? row(t('resolved'), esc(Q.when(a.resolved_at))) : '') +
        row(t('address'), esc(pick(a, 'address'))) + '</div>' +
        (photos.length ? '<div class="me-photos">' + photos.map(function (p) {
          return '<img alt="" src="' + esc(p.thumb_url) + c + '">';
        }).join('') + '</div>' : '') +
        '<p><a href="/track?reg=' + encodeURIComponent(a.reg_number) + '&city=' +
        encodeURIComponent(conf.city) + (lang !== 'ru' ? '&lang=' + lang : '') + '">' +
        esc(t('track')) + '</a></p>';
    }).catch(function (e) {
      card.innerHTML = '<p class="error">' + esc(t('error') + ': ' + e.message) + '</p>';
    });
  }

  /* the legend from the same colour table as the points */
  document.getElementById('map-legend').innerHTML = Object.keys(conf.colours)
    .filter(function (s) { return s !== 'duplicate'; })
    .map(function (s) {
      return '<li><i class="legend-dot" data-colour="' + esc(conf.colours[s]) + '"></i> ' +
        esc(Q.word('states', s)) + '</li>';
    }).join('') + '<li><i class="legend-dot legend-overdue"></i> ' + esc(t('overdue')) + '</li>';
  document.querySelectorAll('#map-legend i[data-colour]').forEach(function (i) {
    i.style.background = i.getAttribute('data-colour');  // the CSSOM: allowed by the CSP
  });

  form.addEventListener('change', draw);
  form.addEventListener('submit', function (ev) { ev.preventDefault(); draw(); });
  map.on('zoomend', zoomHint);
  zoomHint();
  draw();
})();
