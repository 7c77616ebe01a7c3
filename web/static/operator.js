/* The operator console: address search, the place card at a click, and registering an
   appeal with the object, organisation and deadline suggested by the service. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var map = Q.map();
  var $ = function (id) { return document.getElementById(id); };
  var state = {point: null, preview: null, categories: {}, key: null, keyFor: null,
    addressEdited: false};
  var pin = null;
  var pane = Q.marks();
  var wellsLayer = L.layerGroup().addTo(map);
  /* the appeals staff may see, live; street names and house numbers close up; the legend */
  var appeals = Q.appealTiles(map);
  window.QalaAppeals = appeals;
  Q.labels(map);
  Q.legend(map);

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return crypto.randomUUID(); }
    return 'k' + Date.now().toString(36) + Math.random().toString(36).slice(2);
  }

  /* One Idempotency-Key per form as it is sent: the same form sent again (a double click,
     a retry after "may have been saved") reuses it, so the appeal is registered once; a
     changed form, or the next appeal after a registration, gets a new one (the service
     refuses a key sent with another request). */
  function keyFor(b) {
    var sent = JSON.stringify(b);
    if (state.keyFor !== sent) { state.key = newKey(); state.keyFor = sent; }
    return state.key;
  }

  function num(v) {
    return v === null || v === undefined ? '—' : Math.round(v).toLocaleString('ru-RU');
  }
  function address(hit) { return (lang === 'kk' && hit.address_kk) || hit.address_ru; }
  function catName(code) { return state.categories[code] || code; }
  function orgName(o, ru, kk) { return (lang === 'kk' && o[kk]) || o[ru] || '—'; }

  /* --- categories ------------------------------------------------------------------- */
  Q.api('/api/v1/categories', {auth: false}).then(function (cats) {
    var select = $('reg-category'), groups = {};
    cats.forEach(function (c) {
      var name = c['name_' + lang] || c.name_ru;
      state.categories[c.code] = name;
      if (!groups[c.group_code]) {
        groups[c.group_code] = document.createElement('optgroup');
        groups[c.group_code].label = Q.word('groups', c.group_code);
        select.appendChild(groups[c.group_code]);
      }
      var opt = document.createElement('option');
      opt.value = c.code;
      opt.textContent = name + (c.criticality === 'urgent' ? ' · ' + t('urgent') : '');
      groups[c.group_code].appendChild(opt);
    });
  });

  /* --- search ----------------------------------------------------------------------- */
  var timer = null, seq = 0;
  $('search-input').addEventListener('input', function (ev) {
    clearTimeout(timer);
    var q = ev.target.value.trim();
    timer = setTimeout(function () { search(q); }, 250);
  });
  $('search-input').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') {
      ev.preventDefault();
      var first = $('search-results').querySelector('li[data-i]');
      if (first) { first.click(); } else { search(ev.target.value.trim()); }
    }
  });

  function search(q) {
    var list = $('search-results'), mine = ++seq;
    if (q.length < 2) { list.innerHTML = ''; return; }
    Q.api('/api/v1/search/address?q=' + encodeURIComponent(q) + '&limit=8').then(function (hits) {
      if (mine !== seq) { return; }
      if (!hits.length) {
        list.innerHTML = '<li class="hint">' + esc(t('search_nothing')) + '</li>';
        return;
      }
      list.innerHTML = hits.map(function (h, i) {
        return '<li role="option" tabindex="0" data-i="' + i + '">' + esc(address(h)) +
          ' <small>' + esc(h.apartments) + ' ' + esc(t('apartments').toLowerCase()) + ', ' +
          esc(h.floors) + ' ' + esc(t('floors').toLowerCase()) + '</small></li>';
      }).join('');
      Array.prototype.forEach.call(list.querySelectorAll('li[data-i]'), function (li) {
        var hit = hits[+li.getAttribute('data-i')];
        li.addEventListener('click', function () { choose(hit); });
        li.addEventListener('keydown', function (e) { if (e.key === 'Enter') { choose(hit); } });
      });
    }).catch(function (e) {
      list.innerHTML = '<li class="error">' + esc(e.message) + '</li>';
    });
  }

  function choose(hit) {
    $('search-results').innerHTML = '';
    $('search-input').value = address(hit);
    map.setView([hit.lat, hit.lon], 18);
    $('reg-address').value = address(hit);
    state.addressEdited = true;
    setPoint(hit.lon, hit.lat, 'address');
  }

  /* --- the point and the place card ------------------------------------------------- */
  map.on('click', function (e) {
    state.addressEdited = false;
    setPoint(e.latlng.lng, e.latlng.lat, 'click');
  });
  $('reg-address').addEventListener('input', function () { state.addressEdited = true; });

  function setPoint(lon, lat, how) {
    state.point = {lon: +lon.toFixed(6), lat: +lat.toFixed(6), located_by: how};
    if (pin) { pin.setLatLng([lat, lon]); } else {
      pin = L.circleMarker([lat, lon], {radius: 9, color: '#b3261e', weight: 3, fill: true,
        fillColor: '#ffffff', fillOpacity: 0.6, interactive: false, pane: pane}).addTo(map);
    }
    $('reg-location').value = state.point.lon + ', ' + state.point.lat;
    $('reg-done').hidden = true;
    loadCard();
    preview();
  }

  function loadCard() {
    var card = $('card');
    if (!state.point) { return; }
    if (!Q.token()) {
      card.innerHTML = '<p class="hint">' + esc(t('login_needed')) + '</p>';
      return;
    }
    if (!card.querySelector('.card-section')) {
      card.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    }
    var p = state.point;
    Q.api('/api/v1/place?lon=' + p.lon + '&lat=' + p.lat).then(function (c) {
      card.innerHTML = renderCard(c);
      drawWells(c.wells || []);
      if (c.building && !state.addressEdited) { $('reg-address').value = address(c.building); }
    }).catch(function (e) {
      card.innerHTML = '<p class="error">' + esc(e.message) + '</p>';
    });
  }

  function kv(pairs) {
    return '<div class="kv">' + pairs.filter(function (p) {
      return p[1] !== null && p[1] !== undefined && p[1] !== '';
    }).map(function (p) {
      return '<span>' + esc(p[0]) + '</span><span>' + p[1] + '</span>';
    }).join('') + '</div>';
  }

  function section(title, body) {
    return '<div class="card-section"><h3>' + esc(title) + '</h3>' + body + '</div>';
  }

  function renderCard(c) {
    var out = [];
    if (c.district) {
      out.push(kv([[t('district'), esc(orgName(c.district, 'name_ru', 'name_kk'))]]));
    }
    if (c.building) {
      var b = c.building, org = b.housing_org;
      out.push(section(t('building'), kv([
        [t('address'), '<b>' + esc(address(b)) + '</b>'],
        [t('apartments'), esc(b.apartments)], [t('floors'), esc(b.floors)],
        [t('year_built'), esc(b.year_built || '—')],
        [t('housing_org'), org ? esc(orgName(org, 'name_ru', 'name_kk')) +
          (org.phone ? ' · ' + esc(org.phone) : '') : '—']])));
    }
    if (c.yard) {
      var y = c.yard;
      out.push(section(t('yard'), kv([
        [t('yard'), esc(y.name || (c.building ? address(c.building) : '—'))],
        [t('area'), esc(num(y.area_m2))],
        [t('surface'), esc(y.surface ? Q.word('surfaces', y.surface) : '—')], [t('last_repair'), esc(y.last_repair_year || '—')],
        [t('repair_status'), esc(Q.word('states', y.repair_status))],
        [t('buildings_n'), esc(y.buildings)], [t('apartments'), esc(y.apartments)]])));
    }
    var wells = c.wells || [];
    out.push(section(t('wells') + ' (' + wells.length + ')', wells.length ?
      '<table class="mini"><tr><th>№</th><th>' + esc(t('owner')) + '</th><th>' +
      esc(t('distance_m')) + '</th></tr>' + wells.slice(0, 12).map(function (w) {
        return '<tr><td>' + esc(w.code || '—') + '<br><small>' + esc(Q.word('wells', w.kind)) +
          '</small></td><td>' + esc(orgName(w, 'owner_ru', 'owner_kk')) +
          (w.owner_phone ? '<br><small>' + esc(w.owner_phone) + '</small>' : '') +
          (w.in_this_yard ? ' <span class="badge ok">' + esc(t('in_this_yard')) + '</span>' : '') +
          '</td><td>' + esc(w.distance_m) + '</td></tr>';
      }).join('') + '</table>' : '<p class="hint">' + esc(t('none')) + '</p>'));
    var open = c.open_nearby || [];
    out.push(section(t('open_nearby') + ' (' + open.length + ')', open.length ?
      '<table class="mini">' + open.slice(0, 10).map(function (a) {
        return '<tr><td><a href="' + esc(Q.href('/staff/' + encodeURIComponent(a.reg_number))) + '">' +
          esc(a.reg_number) + '</a></td><td>' + esc(catName(a.category_code)) + '</td><td>' +
          esc(Q.word('states', a.status)) + (a.overdue ? ' <span class="badge overdue">' +
          esc(t('overdue')) + '</span>' : '') + '</td></tr>';
      }).join('') + '</table>' : '<p class="hint">' + esc(t('none')) + '</p>'));
    var hist = c.history || [];
    out.push(section(t('history') + ' · ' + t('repeats') + ': ' + (c.repeats || 0), hist.length ?
      '<table class="mini"><tr><th>' + esc(t('category')) + '</th><th>' + esc(t('appeals')) +
      '</th><th>' + esc(t('repeats')) + '</th></tr>' + hist.map(function (h) {
        return '<tr><td>' + esc(catName(h.category_code)) + '</td><td>' + esc(h.appeals) +
          '</td><td>' + esc(h.repeats) + '</td></tr>';
      }).join('') + '</table>' : '<p class="hint">' + esc(t('none')) + '</p>'));
    return out.join('');
  }

  function drawWells(wells) {
    wellsLayer.clearLayers();
    wells.forEach(function (w) {
      L.circleMarker([w.lat, w.lon], {radius: 6, color: '#0b3d63', weight: 2, pane: pane,
        fillColor: w.in_this_yard ? '#2f8fd8' : '#9cc3e0', fillOpacity: 1})
        .bindTooltip(esc((w.code ? w.code + ' · ' : '') + Q.word('wells', w.kind) + ' · ' +
          orgName(w, 'owner_ru', 'owner_kk')))
        .addTo(wellsLayer);
    });
  }

  /* --- preview and registration ----------------------------------------------------- */
  $('reg-category').addEventListener('change', preview);

  function body() {
    var p = state.point, pv = state.preview, b = {
      category: $('reg-category').value, lon: p.lon, lat: p.lat,
      channel: $('reg-channel').value, located_by: p.located_by,
      description: $('reg-description').value,
      first_call_resolved: $('reg-fcr').checked
    };
    var addr = $('reg-address').value.trim();
    if (addr) { b.address_text = addr; }
    if (pv && pv.object_id && ['building', 'yard', 'well', 'street'].indexOf(pv.object_kind) >= 0) {
      b.object_kind = pv.object_kind;
      b.object_id = pv.object_id;
    }
    var name = $('reg-name').value.trim(), phone = $('reg-phone').value.trim();
    if (name) { b.applicant_name = name; }
    if (phone) { b.applicant_phone = phone; }
    var rep = document.querySelector('input[name="repeat_of"]:checked');
    if (rep && rep.value) { b.repeat_of = rep.value; }
    return b;
  }

  function deadlineText(hours, criticality) {
    var at = new Date(Date.now() + hours * 3600 * 1000);
    return esc(Q.when(at.toISOString())) + ' (' + hours + ' ' + esc(t('hours')) + ') ' +
      '<span class="badge ' + esc(criticality) + '">' + esc(t(criticality)) + '</span>';
  }

  function preview() {
    var cat = $('reg-category').value;
    state.preview = null;
    $('reg-object').textContent = $('reg-org').textContent = $('reg-deadline').textContent = '—';
    $('reg-candidates').innerHTML = '';
    if (!cat || !state.point || !Q.token()) { return; }
    var p = state.point;
    var mine = JSON.stringify([cat, p]);
    state.previewFor = mine;
    Q.api('/api/v1/appeals/preview', {method: 'POST', json: {category: cat, lon: p.lon,
      lat: p.lat, located_by: p.located_by}}).then(function (pv) {
      if (state.previewFor !== mine) { return; }
      state.preview = pv;
      $('reg-object').textContent = Q.word('objects', pv.object_kind) +
        (pv.object_label ? ': ' + pv.object_label : '');
      $('reg-org').textContent = pv.organisation_name || '—';
      $('reg-deadline').innerHTML = deadlineText(pv.deadline_hours, pv.criticality);
      if (pv.candidates && pv.candidates.length) {
        $('reg-candidates').innerHTML = '<fieldset class="box"><legend>' +
          esc(t('candidates')) + '</legend><label class="check"><input type="radio" ' +
          'name="repeat_of" value="" checked> ' + esc(t('not_repeat')) + '</label>' +
          pv.candidates.slice(0, 5).map(function (c) {
            return '<label class="check"><input type="radio" name="repeat_of" value="' +
              esc(c.reg_number) + '"> ' + esc(t('repeat_of')) + ' ' + esc(c.reg_number) +
              ' · ' + esc(Q.word('states', c.status)) + ' · ' + esc(Math.round(c.distance_m)) +
              ' m</label>';
          }).join('') + '</fieldset>';
      }
    }).catch(function (e) {
      $('reg-object').textContent = e.message;
    });
  }

  $('register-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var err = $('reg-error'), button = $('reg-submit');
    err.hidden = true;
    if (!Q.token()) { err.textContent = t('login_needed'); err.hidden = false; return; }
    if (!state.point) { err.textContent = t('pick_place'); err.hidden = false; return; }
    button.disabled = true;
    var b = body();
    Q.api('/api/v1/appeals', {method: 'POST', json: b,
      headers: {'Idempotency-Key': keyFor(b)}}).then(function (res) {
      var reg = res.appeal.reg_number, link = $('reg-number');
      link.textContent = reg;
      link.href = Q.href('/track', {reg: reg});
      $('reg-staff-link').href = Q.href('/staff/' + encodeURIComponent(reg));
      $('reg-staff-link').hidden = false;
      if (appeals) { appeals.refresh(); }  /* on the map now, without waiting for the stream */
      $('reg-done').hidden = false;
      state.keyFor = null;  // the next appeal is another request, even if it looks the same
      ['reg-description', 'reg-name', 'reg-phone'].forEach(function (id) { $(id).value = ''; });
      $('reg-fcr').checked = false;
      loadCard();
    }).catch(function (e) {
      err.textContent = t('error') + ': ' + e.message;
      err.hidden = false;
    }).then(function () { button.disabled = false; });
  });

  Q.onAuth(function () { loadCard(); preview(); });
})();
