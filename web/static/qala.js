/* Qala Map: what every page's script shares. Settings and labels come from the page's
   #qala-config JSON; requests go only to this service. The staff token lives in
   sessionStorage (gone when the tab closes). */
(function () {
  'use strict';
  var config = JSON.parse(document.getElementById('qala-config').textContent);
  var TOKEN = 'qala.token', WHO = 'qala.who';
  var LOCALES = {ru: 'ru-RU', kk: 'kk-KZ', en: 'en-GB'};

  function esc(value) {
    return String(value === null || value === undefined ? '' : value)
      .replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;')
      .replace(/"/g, '&quot;').replace(/'/g, '&#39;');
  }

  function t(key) { return config.t[key] || key; }

  /* every request carries the page's city (a public request's scope is the city it names;
     a staff token's city is the page's, see who()) */
  function withCity(path) {
    if (path.charAt(0) !== '/' || /[?&]city=/.test(path)) { return path; }
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'city=' + encodeURIComponent(config.city);
  }

  /* a link to one of our pages in this page's language, and its city when the page was
     asked for one (/operator?city=HEL keeps HEL in every link) */
  function href(path, params) {
    var p = new URLSearchParams(params || {});
    if (config.lang !== 'ru') { p.set('lang', config.lang); }
    if (config.city_param) { p.set('city', config.city); }
    var q = p.toString();
    return path + (q ? '?' + q : '');
  }

  function word(table, key) {
    return (config.vocab[table] && config.vocab[table][key]) || key;
  }

  function when(iso) {
    if (!iso) { return '—'; }
    var d = new Date(iso);
    return d.toLocaleString(LOCALES[config.lang] || 'ru-RU',
      {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'});
  }

  /* dates typed in the page's language: dd.mm.yyyy (ru, kk) or dd/mm/yyyy (en), never the
     browser's own mm/dd/yyyy (_base/date_field.html); the API and address bars keep
     yyyy-mm-dd */
  var DATE_SEP = config.lang === 'en' ? '/' : '.';
  function isoDate(text) {  /* '' for none, null for a date that cannot be */
    text = String(text || '').trim();
    if (!text) { return ''; }
    var m = /^(\d{1,2})[./-](\d{1,2})[./-](\d{4})$/.exec(text);
    if (!m) { return null; }
    var d = new Date(+m[3], +m[2] - 1, +m[1]);
    if (d.getMonth() !== +m[2] - 1 || d.getDate() !== +m[1]) { return null; }
    return m[3] + '-' + ('0' + m[2]).slice(-2) + '-' + ('0' + m[1]).slice(-2);
  }
  function shownDate(iso) {
    var m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(iso || '');
    return m ? m[3] + DATE_SEP + m[2] + DATE_SEP + m[1] : '';
  }
  /* the form's date fields (``names``) checked: those that cannot be dates are marked
     aria-invalid, ``box`` says so (t.bad_date) and the first is focused; true when all are
     dates or empty */
  function checkDates(form, names, box) {
    var bad = names.filter(function (n) { return isoDate(form.elements[n].value) === null; });
    names.forEach(function (n) {
      form.elements[n].setAttribute('aria-invalid', bad.indexOf(n) >= 0 ? 'true' : 'false');
    });
    if (box) {
      box.textContent = bad.length ? t('bad_date') : '';
      box.hidden = !bad.length;
    }
    if (bad.length) { form.elements[bad[0]].focus(); }
    return !bad.length;
  }

  /* who is signed in, for this page's city (a token is for one city: another city's
     page asks to sign in again) */
  function who() {
    var w;
    try { w = JSON.parse(sessionStorage.getItem(WHO) || 'null'); } catch (e) { return null; }
    return w && (!w.city || w.city === config.city) ? w : null;
  }

  function token() { return who() ? sessionStorage.getItem(TOKEN) : null; }

  function ApiError(status, detail) {
    this.status = status;
    this.message = detail;
  }

  /* fetch JSON from our API; throws ApiError with the server's "detail" */
  function api(path, options) {
    options = options || {};
    var headers = Object.assign({'Accept': 'application/json'}, options.headers || {});
    if (token() && options.auth !== false) { headers.Authorization = 'Bearer ' + token(); }
    var init = {method: options.method || 'GET', headers: headers};
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.json);
    } else if (options.form) {
      init.body = new URLSearchParams(options.form);
    } else if (options.body) {  /* FormData: the browser writes its Content-Type */
      init.body = options.body;
    }
    return fetch(withCity(path), init).then(function (r) {
      return r.text().then(function (body) {
        var parsed = null;
        try { parsed = body ? JSON.parse(body) : null; } catch (e) { parsed = null; }
        if (!r.ok) {
          if (r.status === 401) { signOut(true); }
          throw new ApiError(r.status, (parsed && parsed.detail) || r.statusText);
        }
        return parsed;
      });
    });
  }

  var listeners = [];

  function onAuth(fn) { listeners.push(fn); fn(who()); }

  function announce() {
    var w = who();
    listeners.forEach(function (fn) { fn(w); });
  }

  function signIn(username, password) {
    /* a token is for one city: this page's */
    return api('/api/v1/auth/token', {method: 'POST', auth: false,
      form: {username: username, password: password, city: config.city}})
      .then(function (tok) {
        sessionStorage.setItem(TOKEN, tok.access_token);
        sessionStorage.setItem(WHO, JSON.stringify({name: username, role: tok.role,
          city: tok.city}));
        announce();
      });
  }

  function signOut(quiet) {
    sessionStorage.removeItem(TOKEN);
    sessionStorage.removeItem(WHO);
    if (!quiet) { announce(); } else { setTimeout(announce, 0); }
  }

  /* the login form and "signed in as" line, where the page has them */
  function bindLogin() {
    var form = document.getElementById('login-form');
    if (!form) { return; }
    var box = document.getElementById('whoami'), err = document.getElementById('login-error');
    form.addEventListener('submit', function (ev) {
      ev.preventDefault();
      err.hidden = true;
      signIn(form.username.value, form.password.value).then(function () {
        form.password.value = '';
      }).catch(function () { err.hidden = false; });
    });
    document.getElementById('logout').addEventListener('click', function () { signOut(); });
    onAuth(function (w) {
      form.hidden = !!w;
      box.hidden = !w;
      if (w) {
        document.getElementById('whoami-name').textContent = w.name;
        document.getElementById('whoami-role').textContent = word('roles', w.role);
      }
      cityPicker(w);
    });
  }

  /* an account that works in more than one city picks the city here: the token is traded
     for one of the other city (POST /auth/switch) and the page opens for that city */
  function cityPicker(w) {
    var box = document.getElementById('city-pick-box');
    if (!box) { return; }
    box.hidden = true;
    if (!w) { return; }
    api('/api/v1/me').then(function (me) {
      if (!me || !me.cities || me.cities.length < 2) { return; }
      var select = document.getElementById('city-pick');
      select.innerHTML = me.cities.map(function (c) {
        return '<option value="' + esc(c.city) + '"' + (c.city === config.city ? ' selected' : '') +
          '>' + esc((config.cities || {})[c.city] || c.city) + ' · ' + esc(word('roles', c.role)) +
          '</option>';
      }).join('');
      box.hidden = false;
    }).catch(function () { /* the picker is a convenience: the page works without it */ });
  }

  function switchCity(code) {
    var err = document.getElementById('city-error');
    err.hidden = true;
    return api('/api/v1/auth/switch?city=' + encodeURIComponent(code), {method: 'POST'})
      .then(function (tok) {
        var w = who();
        sessionStorage.setItem(TOKEN, tok.access_token);
        sessionStorage.setItem(WHO, JSON.stringify({name: w ? w.name : '', role: tok.role,
          city: tok.city}));
        var p = new URLSearchParams(location.search);
        p.set('city', tok.city);
        p.delete('offset');
        location.assign(location.pathname + '?' + p.toString());
      }).catch(function (e) { err.textContent = t('error') + ': ' + e.message; err.hidden = false; });
  }

  document.addEventListener('change', function (ev) {
    if (ev.target && ev.target.id === 'city-pick' && ev.target.value !== config.city) {
      switchCity(ev.target.value);
    }
  });

  function map() { return config.map ? window[config.map] : null; }

  /* pins and highlighted objects: a pane of their own, always above the basemap layers */
  function marks() {
    var m = map();
    if (!m.getPane('qala-marks')) { m.createPane('qala-marks').style.zIndex = 650; }
    return 'qala-marks';
  }

  /* Live changes of appeals (Server-Sent Events from the database's NOTIFY). EventSource
     cannot send the token, and a long-lived token must not sit in a URL: each connection
     trades it for a ticket valid for a minute. When the stream is lost (the server ended
     it, the network, a restart) it reconnects with a new ticket; onChange({kind: 'ready'})
     after every (re)connection lets the page refetch what it may have missed. */
  function live(onChange, onState) {
    var source = null, timer = null, delay = 1000, stopped = false;
    function state(up) { if (onState) { onState(up); } }
    function open() {
      timer = null;
      if (stopped || !token()) { return; }
      api('/api/v1/staff/stream/ticket', {method: 'POST'}).then(function (res) {
        if (stopped) { return; }
        source = new EventSource(withCity('/api/v1/staff/stream?ticket=' +
          encodeURIComponent(res.ticket)));
        source.addEventListener('ready', function () {
          delay = 1000;
          state(true);
          onChange({kind: 'ready'});
        });
        source.addEventListener('appeal', function (ev) {
          var data = null;
          try { data = JSON.parse(ev.data); } catch (e) { return; }
          onChange(data);
        });
        source.onerror = function () { close(); state(false); retry(); };
      }).catch(function () { state(false); retry(); });
    }
    function close() { if (source) { source.close(); source = null; } }
    function retry() {
      if (stopped || timer) { return; }
      timer = setTimeout(open, delay);
      delay = Math.min(delay * 2, 30000);
    }
    onAuth(function (w) {
      close();
      if (timer) { clearTimeout(timer); timer = null; }
      if (w) { open(); } else { state(null); }
    });
    window.addEventListener('pagehide', function () { stopped = true; close(); });
  }

  /* --- the staff maps: appeals from the vector tiles, street names and house numbers ---- */

  function pane(m, name, z) {
    if (!m.getPane(name)) { m.createPane(name).style.zIndex = z; }
    return name;
  }

  /* A colour per state: the layers' own table (layers.registry), as the legend shows it. */
  function statusColour(status) {
    return (config.status_colours || {})[status] || '#5d6b75';
  }

  /* An appeal on the map: a dot of its state's colour; overdue, a red ring around it. */
  function appealStyle(p) {
    if (p.status === undefined) {  /* a cell of counts at low zoom */
      var n = +p.count || 0;
      return {radius: Math.min(16, 3 + Math.sqrt(n)), fill: true, fillColor: '#1f6f8b',
        fillOpacity: 0.55, color: '#ffffff', weight: 1};
    }
    var dot = {radius: 6, fill: true, fillColor: statusColour(p.status), fillOpacity: 0.95,
      color: '#ffffff', weight: 1.5};
    return p.overdue === true || p.overdue === 'true' ?
      [{radius: 10, fill: false, color: '#b3261e', weight: 3}, dot] : [dot];
  }

  /* The appeals the signed-in staff member may see, from /tiles/appeals_staff (its token
     in the request's header), coloured by state, overdue ringed. A click on the map lists
     the appeals under it (OGC API items of the same layer, in a box of a few pixels) in a
     popup linking each one's page; the map's own click goes on (the operator's click still
     picks the place). live() refreshes the tiles within moments of a change. */
  function appealTiles(m) {
    if (!window.L || !L.vectorGrid) { return null; }
    var version = 0, layer = null, timer = null, popup = null, drawn = {}, seq = 0;
    var TOUCH = 10;  /* px around the click */
    function url() {
      return '/tiles/appeals_staff/{z}/{x}/{y}.pbf?city=' + encodeURIComponent(config.city) +
        '&v=' + version;
    }
    function make() {
      drawn = {};
      layer = L.vectorGrid.protobuf(url(), {
        rendererFactory: L.canvas.tile, interactive: false, maxNativeZoom: 18, minZoom: 6,
        pane: pane(m, 'qala-appeals', 620),
        getFeatureId: function (f) {  /* also which appeals are drawn (drawn()) */
          var reg = f.properties.reg_number;
          if (reg) { drawn[reg] = version; }
          return reg || 'cell-' + f.properties.id;
        },
        fetchOptions: {headers: {Authorization: 'Bearer ' + token()}},
        vectorTileLayerStyles: {appeals_staff: appealStyle}
      });
      layer.addTo(m);
    }
    function overdue(p) { return p.overdue === true || p.overdue === 'true'; }
    m.on('click', function (e) {
      var mine = ++seq;
      if (popup) { m.closePopup(popup); popup = null; }
      if (!layer || m.getZoom() < 14) { return; }  /* below 14 the tiles are counts */
      var c = m.latLngToContainerPoint(e.latlng);
      var sw = m.containerPointToLatLng([c.x - TOUCH, c.y + TOUCH]);
      var ne = m.containerPointToLatLng([c.x + TOUCH, c.y - TOUCH]);
      var bbox = [sw.lng, sw.lat, ne.lng, ne.lat].map(function (v) { return v.toFixed(6); });
      api('/ogc/collections/appeals_staff/items?limit=20&bbox=' + bbox.join(','))
        .then(function (fc) {
          if (mine !== seq || !fc.features.length) { return; }
          var items = fc.features.slice(0, 8).map(function (f) {
            var p = f.properties;
            return '<li><a class="appeal-link" href="' +
              esc(href('/staff/' + encodeURIComponent(p.reg_number))) + '">' +
              esc(p.reg_number) + '</a> · ' + esc(word('states', p.status)) +
              (overdue(p) ? ' · <b>' + esc(t('overdue')) + '</b>' : '') + '</li>';
          });
          popup = L.popup({className: 'qala-appeal-popup', closeOnClick: false})
            .setLatLng(e.latlng).setContent('<ul>' + items.join('') + '</ul>').openOn(m);
        }).catch(function () { /* the map still works */ });
    });
    function refresh() {
      if (timer) { return; }
      timer = setTimeout(function () {  /* many changes at once (a bulk load): one refetch */
        timer = null;
        version += 1;
        drawn = {};
        if (!layer) { return; }
        layer.options.fetchOptions = {headers: {Authorization: 'Bearer ' + token()}};
        layer.setUrl(url());
      }, 150);
    }
    onAuth(function (w) {
      if (layer) { m.removeLayer(layer); layer = null; }
      if (w) { make(); }
    });
    live(function () { refresh(); });
    return {
      refresh: refresh,
      layer: function () { return layer; },
      /* the numbers of the appeals drawn now (the browser tests read it) */
      drawn: function () { return Object.keys(drawn); }
    };
  }

  /* Street names and house numbers from the city's own layers (OGC API – Features of
     streets and buildings) from zoom 17 on, in Kazakh on the kk page where the data has it. */
  function labels(m, minZoom) {
    if (!window.L) { return; }
    minZoom = minZoom || 17;
    var group = L.layerGroup().addTo(m), seq = 0, name = pane(m, 'qala-labels', 660);
    m.getPane(name).style.pointerEvents = 'none';
    function local(p, ru, kk) { return (config.lang === 'kk' && p[kk]) || p[ru] || ''; }
    function label(latlng, text, cls) {
      return L.marker(latlng, {pane: name, interactive: false, keyboard: false,
        icon: L.divIcon({className: 'qala-label ' + cls, html: esc(text), iconSize: null})});
    }
    function lines(g) {
      return g.type === 'LineString' ? [g.coordinates] :
        g.type === 'MultiLineString' ? g.coordinates : [];
    }
    function ring(g) {
      return g.type === 'Polygon' ? g.coordinates[0] :
        g.type === 'MultiPolygon' ? g.coordinates[0][0] : [];
    }
    function load() {
      var mine = ++seq;
      if (m.getZoom() < minZoom) { group.clearLayers(); return; }
      var b = m.getBounds(), box = [b.getWest(), b.getSouth(), b.getEast(), b.getNorth()]
        .map(function (v) { return v.toFixed(5); }).join(',');
      var q = '/items?limit=1000&bbox=' + box;
      Promise.all([api('/ogc/collections/streets' + q, {auth: false}),
        api('/ogc/collections/buildings' + q, {auth: false})]).then(function (got) {
        if (mine !== seq) { return; }
        group.clearLayers();
        var placed = [], size = L.bounds([0, 0], m.getSize()), middle = m.getSize().divideBy(2);
        got[0].features.forEach(function (f) {  /* a street's name where it is in view */
          var text = local(f.properties, 'name_ru', 'name_kk');
          if (!text) { return; }
          lines(f.geometry).forEach(function (line) {
            /* the line's point nearest the middle of the view (a long straight street may
               have no vertex in view at all) */
            var best = null;
            for (var i = 1; i < line.length; i++) {
              var p = L.LineUtil.closestPointOnSegment(middle,
                m.latLngToContainerPoint([line[i - 1][1], line[i - 1][0]]),
                m.latLngToContainerPoint([line[i][1], line[i][0]]));
              if (!best || p.distanceTo(middle) < best.distanceTo(middle)) { best = p; }
            }
            if (!best || !size.contains(best)) { return; }
            if (placed.some(function (o) { return o.t === text && o.p.distanceTo(best) < 220; })) {
              return;
            }
            placed.push({t: text, p: best});
            label(m.containerPointToLatLng(best), text, 'street').addTo(group);
          });
        });
        got[1].features.forEach(function (f) {  /* a house number in the middle of its house */
          var r = ring(f.geometry), n = f.properties.house_number;
          if (!n || !r.length) { return; }
          var x = 0, y = 0;
          r.forEach(function (c) { x += c[0]; y += c[1]; });
          label([y / r.length, x / r.length], n, 'house').addTo(group);
        });
      }).catch(function () { /* the map still works without its labels */ });
    }
    m.on('moveend', load);
    load();
  }

  /* The legend of the appeals' colours, from the same table as the layer. */
  function legend(m) {
    if (!window.L) { return; }
    var control = L.control({position: 'bottomleft'});
    control.onAdd = function () {
      var div = L.DomUtil.create('div', 'qala-legend');
      var states = Object.keys(config.status_colours || {});
      div.innerHTML = '<details><summary>' + esc(t('legend')) + '</summary><ul>' +
        states.map(function (s) {
          return '<li><i data-colour="' + esc(statusColour(s)) + '"></i>' +
            esc(word('states', s)) + '</li>';
        }).join('') + '<li><i class="ring"></i>' + esc(t('overdue')) + '</li></ul></details>';
      Array.prototype.forEach.call(div.querySelectorAll('i[data-colour]'), function (i) {
        i.style.background = i.getAttribute('data-colour');  /* the CSSOM: allowed by the CSP */
      });
      L.DomEvent.disableClickPropagation(div);
      return div;
    };
    control.addTo(m);
  }

  /* the top bar on a phone: one row, the pages and the languages behind the menu button
     (without this script the bar shows them all, wrapped) */
  function bindMenu() {
    var bar = document.getElementById('topbar'), button = document.getElementById('menu-button');
    if (!bar || !button) { return; }
    function set(open) {
      bar.classList.toggle('open', open);
      button.setAttribute('aria-expanded', open ? 'true' : 'false');
    }
    bar.classList.add('menu-ready');
    button.addEventListener('click', function () { set(!bar.classList.contains('open')); });
    document.addEventListener('keydown', function (ev) {
      if (ev.key === 'Escape' && bar.classList.contains('open')) { set(false); button.focus(); }
    });
  }

  /* A file input with our own button and the chosen names in the page's language (the
     browser's control says "No file chosen" in the browser's language). The input stays
     (visually hidden, focusable, its labels kept); a label for it is the button. Every file
     input of the page gets it; a script that adds one later calls filePicks(root). */
  function filePicked(input) {
    var names = document.getElementById(input.id + '-names');
    if (!names) { return; }
    var files = Array.prototype.map.call(input.files || [], function (f) { return f.name; });
    names.textContent = files.length ? t('photos_chosen').replace('{names}', files.join(', '))
      : t(input.multiple ? 'no_photos_chosen' : 'no_photo_chosen');
  }

  function filePicks(root) {
    (root || document).querySelectorAll('input[type=file]:not([data-picked])')
      .forEach(function (input) {
        if (!input.id) { return; }
        input.setAttribute('data-picked', '');
        input.classList.add('visually-hidden');
        var button = document.createElement('label');
        button.htmlFor = input.id;
        button.id = input.id + '-button';
        button.className = 'button secondary file-pick-button';
        button.textContent = t(input.multiple ? 'choose_photos' : 'choose_photo');
        var names = document.createElement('span');
        names.id = input.id + '-names';
        names.className = 'hint file-pick-names';
        names.setAttribute('aria-live', 'polite');
        input.setAttribute('aria-describedby', names.id);
        input.after(button, names);
        input.addEventListener('change', function () { filePicked(input); });
        filePicked(input);
      });
  }

  bindMenu();
  filePicks(document);
  document.addEventListener('DOMContentLoaded', bindLogin);

  window.Qala = {config: config, t: t, word: word, esc: esc, when: when, api: api, href: href,
    token: token, who: who, onAuth: onAuth, signIn: signIn, signOut: signOut, map: map,
    marks: marks, live: live, appealTiles: appealTiles, labels: labels, legend: legend,
    statusColour: statusColour, isoDate: isoDate, shownDate: shownDate, checkDates: checkDates,
    filePicks: filePicks, filePicked: filePicked,
    ApiError: ApiError};
})();
