/* The planner workspace. The parameters form and the layer switch choose one analysis layer;
   its summary (/api/v1/planner/layers/<layer>: legend counts, parameters, why empty) draws
   the legend, and its vector tiles (…/<layer>/{z}/{x}/{y}.pbf) draw the map in a pane above
   the basemap. Every feature drawn is counted in window.QalaPlanner.drawn (by class), which
   the browser tests read. Only the chosen layer is asked for (the others when switched
   on); when the first one is drawn the page says so once (<html data-ready>, the time in
   data-ready-ms: what bench_pages calls "settled"), then asks for the year's totals, charts
   and queue if the page came without them (?part=panels). Dates are typed in the page's format
   (Qala.isoDate); a field inside label[data-layer] is that layer's alone (the clustering's
   distance, appeals and how many). Ratings (staff only) list every body, sortable; the
   repair plan runs over several years with a budget per year and compares two plans. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var P = Q.config.planner, COLOURS = P.colours;
  var LOCALE = {ru: 'ru-RU', kk: 'kk-KZ', en: 'en-GB'}[lang] || 'ru-RU';
  var map = Q.map();
  var form = document.getElementById('params');
  var legendBox = document.getElementById('legend');
  var noteBox = document.getElementById('layer-note');
  var emptyBox = document.getElementById('empty');
  var state = window.QalaPlanner = {layer: 'hotspots', drawn: {}, legend: [], summary: null,
                                    loads: 0, busy: false};
  var tiles = null, seq = 0;

  if (!map.getPane('qala-analysis')) {
    // above the basemap (tiles 200, yards and streets 400), below tooltips and marks
    map.createPane('qala-analysis').style.zIndex = 450;
  }

  function num(v, digits) {
    return Number(v).toLocaleString(LOCALE, {maximumFractionDigits: digits || 0,
                                             minimumFractionDigits: digits || 0});
  }

  /* the parameters of the chosen layer: a field inside a label[data-layer] belongs to that
     layer alone (shown, and sent, only with it); dates typed dd.mm.yyyy (Qala.isoDate) */
  function query() {
    var layer = document.querySelector('#layer-switch input:checked');
    state.layer = layer ? layer.value : 'hotspots';
    var out = new URLSearchParams();
    Array.prototype.forEach.call(form.elements, function (el) {
      if (!el.name || el.type === 'submit' || el.type === 'reset') { return; }
      var own = el.closest('[data-layer]');
      if (own && own.dataset.layer !== state.layer) { return; }
      var v = el.value.trim();
      if (el.name === 'since' || el.name === 'until') {
        v = Q.isoDate(v);
        v = v ? v + 'T00:00:00Z' : '';
      }
      if (v !== '') { out.set(el.name, v); }
    });
    return out.toString();
  }

  function showOwnFields() {
    form.querySelectorAll('[data-layer]').forEach(function (el) {
      el.hidden = el.dataset.layer !== state.layer;
    });
  }

  /* the first view drawn (the default layer and its legend): the page says so once, for
     the tests and the benchmark (bench_pages: "settled") */
  function firstDrawn() {
    if (state.readyAt !== undefined) { return; }
    state.readyAt = performance.now();
    document.documentElement.dataset.readyMs = String(Math.round(state.readyAt));
    document.documentElement.dataset.ready = 'true';
    loadPanels();
  }

  /* the year's totals, charts and the queue's top, when the page came without them (not
     computed for the current data yet): asked for once the map is drawn, so that the two
     do not compete; each part of the answer takes the place with its id */
  function loadPanels() {
    var waiting = document.querySelectorAll('[data-panel]');
    if (!waiting.length) { return; }
    var qs = new URLSearchParams(location.search);
    qs.set('part', 'panels');
    fetch(location.pathname + '?' + qs.toString(), {credentials: 'same-origin'})
      .then(function (r) {
        if (!r.ok) { throw new Error(r.status); }
        return r.text();
      })
      .then(function (html) {
        var tpl = document.createElement('template');
        tpl.innerHTML = html;
        Array.prototype.forEach.call(waiting, function (el) {
          var part = tpl.content.getElementById(el.id);
          if (part) { el.replaceWith(part); }
        });
        state.panels = true;
      })
      .catch(function () {
        Array.prototype.forEach.call(waiting, function (el) {
          el.setAttribute('aria-busy', 'false');
          el.querySelector('p').textContent = t('error');
        });
      });
  }

  function colour(layer, cls) {
    if (layer === 'queue') {
      if (cls === 'later') { return COLOURS.queue.later; }
      var k = Number(cls) - (state.summary && state.summary.params.first_year || Number(cls));
      var years = COLOURS.queue.years;
      return years[Math.min(Math.max(k, 0), years.length - 1)];
    }
    return (COLOURS[layer] || {})[cls] || '#777777';
  }

  function label(layer, cls) {
    if (layer === 'failing') { return Q.word('objects', cls); }
    if (layer === 'queue') { return cls === 'later' ? t('year_later') : String(cls); }
    return t('c_' + cls);
  }

  function legendOrder(layer, legend) {
    var keys = (P.orders[layer] || Object.keys(COLOURS[layer] || {})).slice();
    if (layer === 'hotspots' || layer === 'emerging') {
      return keys;  // every class of the legend, also those with no cell (a zero)
    }
    var present = Object.keys(legend);
    if (layer === 'failing') {
      present = keys.filter(function (k) { return legend[k] > 0; });
    } else if (layer === 'queue') {
      present.sort(function (a, b) {
        return (a === 'later') - (b === 'later') || Number(a) - Number(b);
      });
    }
    return present;
  }

  function drawLegend(layer, summary) {
    var legend = summary.legend || {};
    var keys = legendOrder(layer, legend);
    if (layer === 'emerging') {
      keys = keys.filter(function (k) { return legend[k] > 0; });
    }
    state.legend = keys.map(function (k) {
      return {cls: k, label: label(layer, k), count: legend[k] || 0, colour: colour(layer, k)};
    });
    legendBox.innerHTML = '<b>' + esc(t('legend')) + ':</b> ' + state.legend.map(function (e) {
      return '<span class="entry" data-class="' + esc(e.cls) + '"><i data-colour="' +
        esc(e.colour) + '"></i>' + esc(e.label) + ' <small>(' + num(e.count) + ')</small></span>';
    }).join(' ');
    // colours through the CSSOM: the page's CSP allows no style attributes in HTML
    legendBox.querySelectorAll('i[data-colour]').forEach(function (i) {
      i.style.background = i.dataset.colour;
    });
  }

  function describe(summary) {
    var p = summary.params || {}, bits = [];
    if (p.n_cells !== undefined) { bits.push(t('cells_analysed') + ': ' + num(p.n_cells)); }
    if (p.cell_size) { bits.push(t('p_cell') + ': ' + num(p.cell_size)); }
    if (p.band) { bits.push(t('p_band') + ': ' + num(p.band)); }
    if (p.p_method) { bits.push(t('p_method') + ': ' + t('m_' + p.p_method)); }
    return bits.join(' · ');
  }

  function tooltipHtml(layer, props) {
    var cls = props['class'], lines = [];
    lines.push('<b>' + esc(label(layer, cls)) + '</b>');
    if (layer === 'hotspots' || layer === 'emerging') {
      if (props.z !== undefined && props.z !== null) {
        lines.push((layer === 'emerging' ? t('trend') + ' ' : '') + 'z = ' + num(props.z, 2));
      }
      lines.push(t('n_appeals') + ': ' + num(props.count));
    } else if (layer === 'failing') {
      lines.push(esc(props.label || ''));
      lines.push(t('n_appeals') + ': ' + num(props.count) + ', ' + t('n_repeats') + ': ' +
                 num(props.repeats));
    } else if (layer === 'clusters') {
      lines.push(t('n_appeals') + ': ' + num(props.count));
      if (props.radius_m) { lines.push(t('radius') + ': ' + num(props.radius_m)); }
    } else if (layer === 'queue') {
      lines.push(esc(props.label || ''));
      lines.push(t('rank_n') + ': ' + num(props.rank) + ' · ' + t('n_appeals') + ': ' +
                 num(props.count) + ' · ' + num(props.cost) + ' ₸');
    }
    return lines.join('<br>');
  }

  function style(layer) {
    return function (props) {
      var cls = props['class'];
      state.drawn[cls] = (state.drawn[cls] || 0) + 1;
      var c = colour(layer, cls);
      if (layer === 'failing') {
        return {radius: 5, weight: 1, color: '#ffffff', fill: true, fillColor: c,
                fillOpacity: 0.95};
      }
      return {weight: 0.6, color: layer === 'clusters' ? c : '#555555', opacity: 0.7,
              fill: true, fillColor: c, fillOpacity: layer === 'clusters' ? 0.35 : 0.72};
    };
  }

  function showEmpty(summary) {
    var reason = (summary.params && summary.params.reason) || 'none';
    var why = t('r_' + reason);
    emptyBox.hidden = false;
    emptyBox.dataset.reason = reason;
    emptyBox.innerHTML = '<b>' + esc(t('empty_title')) + '</b><p>' + esc(why) + '</p>' +
      (summary.note ? '<p class="hint">' + esc(summary.note) + '</p>' : '');
  }

  function load() {
    var qs = query(), layer = state.layer, mine = ++seq;
    showOwnFields();
    state.busy = true;
    noteBox.textContent = t('loading_layer');
    emptyBox.hidden = true;
    document.querySelectorAll('#layer-exports a').forEach(function (a) {
      a.href = '/api/v1/planner/layers/' + layer + '/export?format=' + a.dataset.format +
        (qs ? '&' + qs : '');
    });
    Q.api('/api/v1/planner/layers/' + layer + (qs ? '?' + qs : '')).then(function (s) {
      if (mine !== seq) { return; }
      state.summary = s;
      if (tiles) { map.removeLayer(tiles); tiles = null; }
      state.drawn = {};
      drawLegend(layer, s);
      noteBox.textContent = describe(s);
      if (layer === 'hotspots') {
        var hot = (s.legend.hot_99 || 0) + (s.legend.hot_95 || 0) + (s.legend.hot_90 || 0);
        document.getElementById('n-hot').textContent = num(hot);
      }
      if (!s.features) {
        showEmpty(s);
        state.busy = false;
        state.loads++;
        firstDrawn();
        return;
      }
      var opts = {
        pane: 'qala-analysis', interactive: true, rendererFactory: L.canvas.tile,
        maxNativeZoom: 17, vectorTileLayerStyles: {}
      };
      opts.vectorTileLayerStyles[layer] = style(layer);
      tiles = L.vectorGrid.protobuf('/api/v1/planner/layers/' + layer + '/{z}/{x}/{y}.pbf' +
                                    (qs ? '?' + qs : ''), opts);
      tiles.on('mouseover click', function (e) {
        L.popup({closeButton: false, autoPan: false, className: 'qala-tip'})
          .setLatLng(e.latlng).setContent(tooltipHtml(layer, e.layer.properties)).openOn(map);
      });
      tiles.on('load', function () {
        if (mine === seq) { state.busy = false; state.loads++; firstDrawn(); }
      });
      tiles.addTo(map);
      if (s.bounds && !map.getBounds().intersects(L.latLngBounds(
          [s.bounds[1], s.bounds[0]], [s.bounds[3], s.bounds[2]]))) {
        map.fitBounds([[s.bounds[1], s.bounds[0]], [s.bounds[3], s.bounds[2]]]);
      }
    }).catch(function (e) {
      if (mine !== seq) { return; }
      legendBox.innerHTML = '';
      noteBox.textContent = '';
      showEmpty({params: {reason: 'invalid'}, note: e.message});
      state.busy = false;
      state.loads++;
      firstDrawn();
    });
  }

  state.tooltip = tooltipHtml;
  form.addEventListener('submit', function (e) {
    e.preventDefault();
    if (Q.checkDates(form, ['since', 'until'], document.getElementById('params-error'))) {
      load();
    }
  });
  form.addEventListener('reset', function () {
    setTimeout(function () {
      Q.checkDates(form, ['since', 'until'], document.getElementById('params-error'));
      load();
    }, 0);
  });
  document.querySelectorAll('#layer-switch input').forEach(function (r) {
    r.addEventListener('change', load);
  });
  load();

  /* ratings: every body, sortable by any column, best or worst first */
  var box = document.getElementById('ratings'), tools = document.getElementById('ratings-tools');
  var orderSel = document.getElementById('ratings-order');
  var rows = [], sortKey = null, sortDir = 1;
  var COLUMNS = [['rank', 'rank', true], ['name', 'organisation', false],
                 ['on_time_rate', 'on_time_rate', true], ['overdue', 'overdue_open', true],
                 ['appeals', 'appeals', true], ['resolved', 'resolved_n', true],
                 ['median_hours', 'median_hours', true]];

  function drawRatings() {
    var list = rows.slice();
    if (sortKey) {
      list.sort(function (a, b) {
        var x = a[sortKey], y = b[sortKey];
        if (x === null || x === undefined) { return 1; }
        if (y === null || y === undefined) { return -1; }
        return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
      });
    }
    box.innerHTML = '<table class="data compact sortable" id="ratings-table"><thead><tr>' +
      COLUMNS.map(function (c) {
        var mark = sortKey === c[0] ? (sortDir > 0 ? ' ▲' : ' ▼') : '';
        return '<th class="' + (c[2] ? 'num' : '') + '"><button type="button" data-key="' +
          c[0] + '">' + esc(t(c[1])) + mark + '</button></th>';
      }).join('') + '</tr></thead><tbody>' + list.map(function (o) {
        return '<tr><td class="num">' + o.rank + '</td><td>' + esc(o.name) + '</td><td class="num">' +
          (o.on_time_rate === null ? '—' : (o.on_time_rate * 100).toFixed(0) + '%') +
          '</td><td class="num">' + num(o.overdue) + '</td><td class="num">' + num(o.appeals) +
          '</td><td class="num">' + num(o.resolved) + '</td><td class="num">' +
          (o.median_hours === null ? '—' : num(o.median_hours, 1)) + '</td></tr>';
      }).join('') + '</tbody></table>';
    box.querySelectorAll('th button').forEach(function (b) {
      b.addEventListener('click', function () {
        var key = b.dataset.key;
        sortDir = sortKey === key ? -sortDir : 1;
        sortKey = key;
        drawRatings();
      });
    });
  }

  function loadRatings(who) {
    if (!who) { box.innerHTML = ''; tools.hidden = true; return; }
    box.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    Q.api('/api/v1/ratings?order=' + orderSel.value).then(function (r) {
      rows = r.organisations.map(function (o) {
        return Object.assign({}, o, {name: lang === 'kk' ? (o.name_kk || o.name_ru) : o.name_ru});
      });
      sortKey = null;
      tools.hidden = false;
      drawRatings();
    }).catch(function (e) {
      box.innerHTML = '<p class="error">' + esc(e.message) + '</p>';
    });
  }

  orderSel.addEventListener('change', function () { loadRatings(Q.who()); });
  document.getElementById('ratings-csv').addEventListener('click', function (e) {
    e.preventDefault();
    // the ratings are for staff: the download carries the token, so it is fetched here
    fetch('/api/v1/ratings?format=csv&order=' + orderSel.value,
          {headers: {Authorization: 'Bearer ' + Q.token()}})
      .then(function (r) { return r.blob(); })
      .then(function (blob) {
        var a = document.createElement('a');
        a.href = URL.createObjectURL(blob);
        a.download = 'ratings.csv';
        document.body.appendChild(a);
        a.click();
        a.remove();
      });
  });
  Q.onAuth(loadRatings);

  /* repair planning over several years */
  var planForm = document.getElementById('plan-form'), planOut = document.getElementById('plan-out');

  function planQuery(b) {
    var d = new FormData(planForm), out = new URLSearchParams();
    ['budgets', 'years', 'cost_per_m2'].forEach(function (k) {
      if (d.get(k)) { out.set(k, d.get(k)); }
    });
    if (b) {
      if (d.get('budgets_b')) { out.set('budgets_b', d.get('budgets_b')); }
      if (d.get('cost_per_m2_b')) { out.set('cost_per_m2_b', d.get('cost_per_m2_b')); }
    }
    return out.toString();
  }

  var planSeq = 0;

  function loadPlan() {
    var qs = planQuery(false), qb = planQuery(true), mine = ++planSeq;
    document.querySelectorAll('#plan-exports a').forEach(function (a) {
      a.href = a.dataset.format === 'compare'
        ? '/api/v1/repair-plan/compare?format=csv&' + qb
        : '/api/v1/repair-plan?format=' + a.dataset.format + '&' + qs;
    });
    planOut.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    var compare = qb !== qs;
    Promise.all([Q.api('/api/v1/repair-plan?' + qs),
                 compare ? Q.api('/api/v1/repair-plan/compare?' + qb) : null])
      .then(function (res) {
        if (mine !== planSeq) { return; }  // a newer plan was asked for
        var plan = res[0], cmp = res[1];
        var html = '<table class="data compact" id="plan-years"><thead><tr><th>' +
          esc(t('plan_year')) + '</th><th class="num">' + esc(t('plan_budget')) +
          '</th><th class="num">' + esc(t('plan_yards')) + '</th><th class="num">' +
          esc(t('plan_spent')) + '</th><th class="num">' + esc(t('plan_unspent')) +
          '</th></tr></thead><tbody>' + plan.years.map(function (y) {
            return '<tr><td>' + y.year + '</td><td class="num">' + num(y.budget) +
              '</td><td class="num">' + num(y.yards) + '</td><td class="num">' + num(y.cost) +
              '</td><td class="num">' + num(y.unspent) + '</td></tr>';
          }).join('') + '</tbody></table>';
        html += '<h3>' + esc(t('plan_first')) + '</h3><table class="data compact"><thead><tr><th>' +
          esc(t('rank')) + '</th><th>' + esc(t('address')) + '</th><th class="num">' +
          esc(t('cost')) + '</th><th>' + esc(t('plan_year')) + '</th></tr></thead><tbody>' +
          plan.yards.slice(0, 15).map(function (y) {
            return '<tr><td class="num">' + y.rank + '</td><td>' + esc(y.address) +
              '</td><td class="num">' + num(y.cost) + '</td><td>' +
              (y.year === null ? esc(t('year_later')) : y.year) + '</td></tr>';
          }).join('') + '</tbody></table>';
        if (cmp) {
          html += '<h3>' + esc(t('plan_moved')) + ' (' + num(cmp.moved.length) + ')</h3>';
          html += cmp.moved.length ? '<table class="data compact" id="plan-moved"><thead><tr><th>' +
            esc(t('rank')) + '</th><th>' + esc(t('address')) + '</th><th>' + esc(t('plan_a')) +
            '</th><th>' + esc(t('plan_b')) + '</th></tr></thead><tbody>' +
            cmp.moved.slice(0, 200).map(function (m) {
              return '<tr><td class="num">' + m.rank + '</td><td>' + esc(m.address) + '</td><td>' +
                (m.year_a === null ? esc(t('year_later')) : m.year_a) + '</td><td>' +
                (m.year_b === null ? esc(t('year_later')) : m.year_b) + '</td></tr>';
            }).join('') + '</tbody></table>'
            : '<p class="hint">' + esc(t('plan_none_moved')) + '</p>';
        }
        planOut.innerHTML = html;
      }).catch(function (e) {
        if (mine !== planSeq) { return; }
        planOut.innerHTML = '<p class="error">' + esc(e.message) + '</p>';
      });
  }

  planForm.addEventListener('submit', function (e) { e.preventDefault(); loadPlan(); });
  // computed when the section comes into view (the page's first load stays light)
  if ('IntersectionObserver' in window) {
    var seen = new IntersectionObserver(function (entries) {
      if (entries.some(function (x) { return x.isIntersecting; })) { seen.disconnect(); loadPlan(); }
    });
    seen.observe(document.getElementById('plan'));
  } else {
    loadPlan();
  }
  document.getElementById('plan-exports').addEventListener('click', function (e) {
    if (e.target.tagName === 'A' && e.target.getAttribute('href') === '#') { loadPlan(); }
  });
})();
