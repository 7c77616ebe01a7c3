/* A resident reports a problem: the place (an address, a tap on the map, the device's
   location, or the place a photo says it was taken), the category, a description, up to 5
   photos and a contact; before sending, the open appeals of that category nearby. The
   form is sent once, with its photos, under one Idempotency-Key per form: a double click
   or a retry is one appeal, a changed form gets a new key. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang, city = Q.config.city;
  var map = Q.map(), pin = null, place = null, formKey = null, sending = false;
  var $ = function (id) { return document.getElementById(id); };
  var form = $('report-form'), errors = $('report-errors'), errorList = $('report-error-list');
  var similar = $('report-similar'), result = $('report-result');
  var gpsBox = $('report-gps'), gpsOffer = null;
  var MAX = Q.config.max_photos || 5;

  function fmt(text, values) {
    return text.replace(/\{(\w+)\}/g, function (_, k) { return values[k]; });
  }

  function withCity(path) {
    return path + (path.indexOf('?') < 0 ? '?' : '&') + 'city=' + encodeURIComponent(city);
  }

  function newKey() {
    if (window.crypto && crypto.randomUUID) { return 'report-' + crypto.randomUUID(); }
    var a = new Uint32Array(4);
    crypto.getRandomValues(a);
    return 'report-' + Array.prototype.join.call(a, '-');
  }

  /* any change to the form makes it another request: a new key */
  function changed() { formKey = null; }

  function setPlace(lon, lat, by, label) {
    place = {lon: lon, lat: lat, by: by, label: label || null};
    $('report-lon').value = lon.toFixed(7);
    $('report-lat').value = lat.toFixed(7);
    $('report-located-by').value = by;
    $('report-address-text').value = by === 'address' && label ? label : '';
    $('report-place').textContent = t('report_place') + ': ' +
      (label || t('report_place_point') + ' ' + lat.toFixed(5) + ', ' + lon.toFixed(5));
    var ll = [lat, lon];
    if (pin) { pin.setLatLng(ll); } else {
      pin = L.circleMarker(ll, {radius: 10, color: '#b3261e', weight: 3, fillColor: '#f2b134',
        fillOpacity: 0.9, pane: Q.marks()}).addTo(map);
    }
    map.setView(ll, Math.max(map.getZoom(), 17));
    changed();
    loadSimilar();
  }

  /* 1. where: address search, the map, the device's location */
  function find() {
    var q = $('report-search').value.trim(), list = $('report-hits');
    if (!q) { return; }
    list.innerHTML = '<li class="hint">' + esc(t('loading')) + '</li>';
    Q.api(withCity('/api/v1/search/address?limit=5&q=' + encodeURIComponent(q)), {auth: false})
      .then(function (hits) {
        if (!hits.length) {
          list.innerHTML = '<li class="hint">' + esc(t('report_no_hits')) + '</li>';
          return;
        }
        list.innerHTML = '';
        hits.forEach(function (h) {
          var name = (lang === 'kk' && h.address_kk) ? h.address_kk : h.address_ru;
          var li = document.createElement('li'), b = document.createElement('button');
          b.type = 'button';
          b.textContent = name;
          b.addEventListener('click', function () {
            list.innerHTML = '';
            setPlace(h.lon, h.lat, 'address', name);
          });
          li.appendChild(b);
          list.appendChild(li);
        });
      }).catch(function (e) {
        list.innerHTML = '<li class="error">' + esc(t('error') + ': ' + e.message) + '</li>';
      });
  }
  $('report-find').addEventListener('click', find);
  $('report-search').addEventListener('keydown', function (ev) {
    if (ev.key === 'Enter') { ev.preventDefault(); find(); }
  });

  $('report-locate').addEventListener('click', function () {
    var line = $('report-place');
    if (!navigator.geolocation) { line.textContent = t('report_no_location'); return; }
    line.textContent = t('report_locating');
    navigator.geolocation.getCurrentPosition(function (pos) {
      setPlace(pos.coords.longitude, pos.coords.latitude, 'gps', null);
    }, function () {
      line.textContent = t('report_no_location');
    }, {enableHighAccuracy: true, timeout: 15000, maximumAge: 60000});
  });

  map.on('click', function (ev) { setPlace(ev.latlng.lng, ev.latlng.lat, 'click', null); });

  /* 2. what: "is it one of these?" once the place and the category are known */
  function loadSimilar() {
    var cat = $('report-category').value;
    if (!place || !cat) { similar.hidden = true; return; }
    var asked = place.lon + ',' + place.lat + ',' + cat;
    Q.api(withCity('/api/v1/report/nearby?category=' + encodeURIComponent(cat) +
      '&lon=' + place.lon + '&lat=' + place.lat), {auth: false}).then(function (r) {
      if (!place || asked !== place.lon + ',' + place.lat + ',' + $('report-category').value) {
        return;  // an answer for an earlier choice
      }
      var org = (lang === 'kk' && r.organisation_kk) ? r.organisation_kk : r.organisation_ru;
      var html = '<p id="report-would-get">' + esc(fmt(t('report_would_get'),
        {org: org || '—', hours: r.deadline_hours})) + '</p>';
      if (r.appeals.length) {
        html += '<h3>' + esc(t('report_similar')) + '</h3><ul id="report-similar-list">' +
          r.appeals.map(function (a) {
            var href = '/track?reg=' + encodeURIComponent(a.reg_number) +
              (lang !== 'ru' ? '&lang=' + lang : '') + '&city=' + encodeURIComponent(city);
            return '<li><strong>' + esc(a.reg_number) + '</strong> · ' +
              esc(Q.word('states', a.status)) + ' · ' + esc(Q.when(a.created_at)) + ' · ' +
              esc(fmt(t('report_metres'), {m: Math.round(a.distance_m)})) +
              ' — <a class="follow" href="' + esc(href) + '">' + esc(t('report_follow')) +
              '</a></li>';
          }).join('') + '</ul>';
      } else {
        html += '<p class="hint">' + esc(t('report_similar_none')) + '</p>';
      }
      similar.innerHTML = html;
      similar.hidden = false;
    }).catch(function () { similar.hidden = true; });
  }
  $('report-category').addEventListener('change', loadSimilar);

  /* photos: a GPS position in one is offered as the place (the server reads it and keeps
     nothing) */
  $('report-photos').addEventListener('change', function () {
    var files = Array.prototype.slice.call(this.files || []);
    gpsBox.hidden = true;
    gpsOffer = null;
    files.slice(0, MAX).reduce(function (chain, file) {
      return chain.then(function (found) {
        if (found) { return found; }
        var body = new FormData();
        body.append('photo', file);
        return fetch(withCity('/api/v1/photos/gps'), {method: 'POST', body: body})
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (r) { return r && r.gps ? {gps: r.gps, name: file.name} : null; })
          .catch(function () { return null; });
      });
    }, Promise.resolve(null)).then(function (found) {
      if (!found) { return; }
      gpsOffer = found.gps;
      $('report-gps-text').textContent = fmt(t('report_photo_gps'), {name: found.name});
      gpsBox.hidden = false;
    });
  });
  $('report-gps-use').addEventListener('click', function () {
    if (gpsOffer) { setPlace(gpsOffer.lon, gpsOffer.lat, 'gps', null); }
    gpsBox.hidden = true;
  });

  form.addEventListener('input', changed);
  form.addEventListener('change', changed);

  /* errors: a summary at the top, each linking to its field */
  function showErrors(list) {
    errorList.innerHTML = list.map(function (e) {
      return '<li>' + (e.field ? '<a href="#' + e.field + '">' + esc(e.text) + '</a>'
        : esc(e.text)) + '</li>';
    }).join('');
    errors.hidden = false;
    errors.focus();
    errors.scrollIntoView({block: 'start'});
  }

  function check() {
    var out = [];
    if (!place) { out.push({field: 'report-search', text: t('report_need_place')}); }
    if (!$('report-category').value) {
      out.push({field: 'report-category', text: t('report_need_category')});
    }
    if (!$('report-phone').value.trim() && !$('report-email').value.trim()) {
      out.push({field: 'report-phone', text: t('report_need_contact')});
    }
    if (($('report-photos').files || []).length > MAX) {
      out.push({field: 'report-photos', text: fmt(t('report_too_many_photos'), {n: MAX})});
    }
    return out;
  }

  function done(r) {
    var a = r.appeal;
    var org = (lang === 'kk' && a.organisation_kk) ? a.organisation_kk : a.organisation_ru;
    result.innerHTML = '<h2>' + esc(t('report_done')) + '</h2>' +
      '<p>' + esc(t('reg_number')) + ':</p><p class="reg-big" id="report-number">' +
      esc(a.reg_number) + '</p><div class="kv">' +
      '<span>' + esc(t('organisation')) + '</span><span id="report-organisation">' +
      esc(org || '—') + '</span>' +
      '<span>' + esc(t('deadline')) + '</span><span id="report-deadline">' +
      esc(Q.when(a.deadline_at)) + '</span></div>' +
      '<p class="hint">' + esc(t('report_done_hint')) + '</p>' +
      '<p><a id="report-track" href="' + esc(r.track_url + '&city=' + encodeURIComponent(city)) +
      '">' + esc(t('track')) + '</a></p>' +
      '<p><a href="' + esc(window.location.pathname + window.location.search) + '">' +
      esc(t('report_another')) + '</a></p>';
    form.hidden = true;
    errors.hidden = true;
    result.hidden = false;
    result.scrollIntoView({block: 'start'});
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    if (sending) { return; }  // a double click is the same form
    var problems = check();
    if (problems.length) { showErrors(problems); return; }
    errors.hidden = true;
    formKey = formKey || newKey();
    var button = $('report-send'), label = button.textContent;
    sending = true;
    button.disabled = true;
    button.textContent = t('report_sending');
    fetch(withCity('/api/v1/report'), {method: 'POST', body: new FormData(form),
      headers: {'Accept': 'application/json', 'Idempotency-Key': formKey}})
      .then(function (r) {
        return r.text().then(function (text) {
          var body = null;
          try { body = text ? JSON.parse(text) : null; } catch (e) { body = null; }
          if (r.ok) { done(body); return; }
          var detail = body && body.detail;
          if (typeof detail !== 'string') { detail = t('error') + ' (' + r.status + ')'; }
          showErrors([{field: r.status === 413 || r.status === 415 ? 'report-photos' : null,
            text: detail}]);
        });
      })
      .catch(function (e) { showErrors([{field: null, text: t('error') + ': ' + e.message}]); })
      .then(function () {
        sending = false;
        button.disabled = false;
        button.textContent = label;
      });
  });
})();
