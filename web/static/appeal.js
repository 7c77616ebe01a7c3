/* One appeal for staff: its file from the API, the actions the state machine offers this
   role, notes of both kinds, the call-back, the event log; the appeal as it is now after a
   change by someone else (the live stream, or a 409 when two act at once). A 403 or 404
   from the API is shown as such, never a blank page. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang, reg = Q.config.reg;
  var $ = function (id) { return document.getElementById(id); };
  var map = Q.map(), pane = Q.marks();
  var marks = L.layerGroup().addTo(map);
  Q.labels(map);
  var state = {file: null, action: null, orgs: null, seq: 0, busy: false};
  var LIVE = {};  /* load(LIVE): say "changed" only when the version moved */
  var SECTIONS = ['appeal-box', 'actions-box', 'callback-box', 'notes-box', 'log-box'];

  /* On a phone the page is one column: the map, at the end it would be a long scroll away,
     goes under the appeal's title and status, compact; back to its column when the window
     widens. Leaflet is told its new size. */
  (function mapUnderTitle() {
    var box = map.getContainer().closest('.mapbox'), home = box.parentNode;
    var phone = window.matchMedia('(max-width: 900px)');
    function fit() {
      if (phone.matches) { $('appeal-facts').before(box); } else { home.appendChild(box); }
      box.classList.toggle('appeal-map', phone.matches);
      map.invalidateSize();
    }
    phone.addEventListener('change', fit);
    fit();
  })();

  function pageHref(number) { return Q.href('/staff/' + encodeURIComponent(number)); }
  function orgName(o, ru, kk) { return (lang === 'kk' && o[kk]) || o[ru] || '—'; }

  function kv(pairs) {
    return '<dl class="kv">' + pairs.filter(function (p) {
      return p[1] !== null && p[1] !== undefined && p[1] !== '';
    }).map(function (p) {
      return '<dt>' + esc(p[0]) + '</dt><dd>' + p[1] + '</dd>';
    }).join('') + '</dl>';
  }

  function show(ids) {
    SECTIONS.forEach(function (id) { $(id).hidden = ids.indexOf(id) < 0; });
  }

  /* --- reading the file ---------------------------------------------------------------- */
  function load(notice) {
    if (!Q.token()) {
      show(['appeal-box']);
      $('denied').hidden = true;
      $('appeal-facts').innerHTML = '<p class="hint">' + esc(t('login_needed')) + '</p>';
      return Promise.resolve();
    }
    var mine = ++state.seq;
    var had = state.file && state.file.appeal.version;
    return Q.api('/api/v1/staff/appeals/' + encodeURIComponent(reg)).then(function (f) {
      if (mine !== state.seq) { return; }
      if (notice === LIVE && f.appeal.version === had) { notice = null; }  /* ours, seen */
      state.file = f;
      $('denied').hidden = true;
      document.body.removeAttribute('data-status');
      render(f);
      if (notice) { say(notice === LIVE ? t('changed_live') : notice); }
    }).catch(function (e) {
      if (mine !== state.seq) { return; }
      if (e.status === 403 || e.status === 404) { deny(e); return; }
      say(t('error') + ': ' + e.message);
    });
  }

  function deny(e) {
    show([]);
    $('denied').hidden = false;
    $('denied-title').textContent = t(e.status === 403 ? 'forbidden_title' : 'not_found_title');
    $('denied-text').textContent = t(e.status === 403 ? 'forbidden_text' : 'not_found_text');
    $('denied-detail').textContent = e.message;  /* the service's own words, for support */
    document.body.setAttribute('data-status', String(e.status));
    document.title = $('denied-title').textContent + ' · ' + reg;
    marks.clearLayers();
  }

  function say(text) {
    var n = $('appeal-notice');
    n.textContent = text;
    n.hidden = false;
  }

  function render(f) {
    var a = f.appeal;
    show(['appeal-box', 'notes-box', 'log-box', 'actions-box'].concat(
      f.calls_back ? ['callback-box'] : []));
    $('appeal-title').textContent = a.reg_number;
    document.body.setAttribute('data-appeal-status', a.status);
    $('appeal-badges').innerHTML = '<span class="badge s-' + esc(a.status) + '" id="appeal-status">' +
      esc(Q.word('states', a.status)) + '</span>' +
      (a.overdue ? ' <span class="badge overdue">' + esc(t('overdue')) + '</span>' : '') +
      (a.callback_done ? ' <span class="badge ok">' + esc(t('callback_done')) + '</span>' : '');
    var who = a.applicant || {};
    var mapAddress = (lang === 'kk' && a.address_kk) || a.address_ru;
    var facts = [
      [t('category'), esc(a['category_' + lang] || a.category_ru)],
      [t('channel'), esc(Q.word('channels', a.channel))],
      [t('created'), esc(Q.when(a.created_at))],
      [t('deadline'), esc(Q.when(a.deadline_at))],
      [t('organisation'), esc(orgName(a, 'organisation_ru', 'organisation_kk'))],
      /* the object by its address on the map, never its internal id */
      a.object_kind && a.object_kind !== 'none' ?
        [t('object_on_map'), esc(Q.word('objects', a.object_kind)) +
          (mapAddress ? ': ' + esc(mapAddress) : '')] :
        [t('map_address'), esc(mapAddress || '—')],
      [t('address_written'), esc(a.address_text || '')],
      [t('deferred_to'), esc(a.deferred_to_year || '')],
      [t('original'), a.repeat_of ? '<a href="' + esc(pageHref(a.repeat_of)) + '">' +
        esc(a.repeat_of) + '</a>' : ''],
      [t('repeats_list') + ' (' + f.repeats.length + ')', f.repeats.map(function (r) {
        return '<a href="' + esc(pageHref(r.reg_number)) + '">' + esc(r.reg_number) + '</a> ' +
          esc(Q.word('states', r.status));
      }).join('<br>')]
    ];
    var html = kv(facts);
    if (a.applicant) {
      html += '<h3>' + esc(t('applicant')) + '</h3>' + kv([
        [t('applicant_name'), esc(who.name || '')],
        [t('applicant_phone'), who.phone ? '<a href="tel:' + esc(who.phone) + '">' +
          esc(who.phone) + '</a>' : ''],
        [t('email_label'), esc(who.email || '')]]);
    }
    html += '<h3>' + esc(t('description')) + '</h3><p class="description">' +
      esc(a.description || '—') + '</p>';
    if (f.media.length) {
      html += '<h3>' + esc(t('photos')) + '</h3><ul class="media">' + f.media.map(function (u) {
        return '<li><a href="' + esc(u) + '" rel="noopener noreferrer" target="_blank">' +
          esc(u) + '</a></li>';
      }).join('') + '</ul>';
    }
    html += '<div id="photos-box" hidden><h3>' + esc(t('photos')) + '</h3>' +
      '<ul class="thumbs" id="thumbs"></ul></div>';
    $('appeal-facts').innerHTML = html;
    loadPhotos();
    renderActions(f);
    renderNotes(f.notes);
    renderLog(f.events);
    place(a);
  }

  function place(a) {
    marks.clearLayers();
    L.circleMarker([a.lat, a.lon], {radius: 10, color: '#b3261e', weight: 3, fill: true,
      fillColor: '#ffffff', fillOpacity: 0.7, pane: pane}).bindTooltip(esc(a.reg_number))
      .addTo(marks);
    map.setView([a.lat, a.lon], 17, {animate: false});
  }

  function renderLog(events) {
    $('log').innerHTML = '<tr><th>' + esc(t('when')) + '</th><th>' + esc(t('change')) +
      '</th><th>' + esc(t('who')) + '</th></tr>' + events.map(function (e) {
        var change = (e.from_status && e.from_status !== e.to_status ?
          esc(Q.word('states', e.from_status)) + ' → ' : '') + esc(Q.word('states', e.to_status));
        return '<tr><td>' + esc(Q.when(e.at)) + '</td><td>' + change +
          (e.organisation_ru ? '<br><small>' + esc(orgName(e, 'organisation_ru', 'organisation_kk')) +
            '</small>' : '') +
          (e.comment ? '<br><i>' + esc(e.comment) + '</i>' : '') + '</td><td>' + esc(e.actor) +
          '<br><small>' + esc(Q.word('roles', e.actor_role)) + '</small></td></tr>';
      }).join('');
  }

  function renderNotes(notes) {
    $('notes').innerHTML = notes.length ? notes.map(function (n) {
      return '<li class="note-' + esc(n.kind) + '"><span class="badge ' +
        (n.kind === 'public' ? 'ok' : '') + '">' + esc(t('note_' + n.kind)) + '</span> ' +
        '<small>' + esc(Q.when(n.at)) + ' · ' + esc(n.author) + '</small><br>' + esc(n.body) +
        '</li>';
    }).join('') : '<li class="hint">' + esc(t('none')) + '</li>';
  }

  /* --- actions ------------------------------------------------------------------------- */
  function renderActions(f) {
    var box = $('action-buttons');
    box.innerHTML = f.actions.length ? f.actions.map(function (act) {
      return '<button type="button" data-action="' + esc(act.name) + '">' +
        esc(t('act_' + act.name)) + '</button>';
    }).join('') : '<p class="hint">' + esc(t('no_actions')) + '</p>';
    if (state.action && !f.actions.some(function (x) { return x.name === state.action.name; })) {
      closeForm();
    }
  }

  $('action-buttons').addEventListener('click', function (ev) {
    var b = ev.target.closest('button[data-action]');
    if (!b || !state.file) { return; }
    var act = state.file.actions.filter(function (x) {
      return x.name === b.getAttribute('data-action');
    })[0];
    openForm(act);
  });


  function openForm(act) {
    state.action = act;
    $('action-error').hidden = true;
    $('action-title').textContent = t('act_' + act.name);
    Array.prototype.forEach.call(document.querySelectorAll('#action-form [data-need]'),
      function (el) { el.hidden = act.needs.indexOf(el.getAttribute('data-need')) < 0; });
    $('act-comment').required = act.needs.indexOf('note') >= 0;
    /* the executor's photos of the result go with "complete" */
    $('act-photos-box').hidden = act.to !== 'resolved';
    $('act-photos').value = '';
    Q.filePicked($('act-photos'));
    $('act-year').value = new Date().getFullYear() + 1;
    $('act-original-hits').innerHTML = '';
    $('action-form').hidden = false;
    if (act.needs.indexOf('organisation') >= 0) { loadOrgs(); }
    $('act-comment').focus();
  }

  function closeForm() {
    state.action = null;
    $('action-form').hidden = true;
    $('action-form').reset();
  }

  $('act-cancel').addEventListener('click', closeForm);

  function loadOrgs() {
    var select = $('act-organisation');
    var current = state.file && state.file.appeal.organisation_id;
    function fill(orgs) {
      select.innerHTML = orgs.map(function (o) {
        return '<option value="' + esc(o.id) + '">' + esc(orgName(o, 'name_ru', 'name_kk')) +
          '</option>';
      }).join('');
      if (current) { select.value = String(current); }
    }
    if (state.orgs) { fill(state.orgs); return; }
    Q.api('/api/v1/staff/organisations').then(function (orgs) { state.orgs = orgs; fill(orgs); });
  }

  /* the original: search by number (its end is enough) */
  $('act-original-check').addEventListener('click', function () {
    var q = $('act-original').value.trim(), hits = $('act-original-hits');
    if (!q) { return; }
    Q.api('/api/v1/staff/appeals?limit=5&q=' + encodeURIComponent(q)).then(function (page) {
      var items = page.items.filter(function (x) { return x.reg_number !== reg; });
      hits.innerHTML = items.length ? items.map(function (x) {
        return '<li tabindex="0" data-reg="' + esc(x.reg_number) + '">' + esc(x.reg_number) +
          ' · ' + esc(x['category_' + lang] || x.category_ru) + ' · ' +
          esc(Q.word('states', x.status)) + '</li>';
      }).join('') : '<li class="hint">' + esc(t('nothing_found')) + '</li>';
    }).catch(function (e) {
      hits.innerHTML = '<li class="error">' + esc(e.message) + '</li>';
    });
  });
  $('act-original-hits').addEventListener('click', function (ev) {
    var li = ev.target.closest('li[data-reg]');
    if (li) { $('act-original').value = li.getAttribute('data-reg'); $('act-original-hits').innerHTML = ''; }
  });

  $('action-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var act = state.action, f = state.file, err = $('action-error');
    if (!act || !f || state.busy) { return; }
    var body = {to: act.to, version: f.appeal.version};
    var comment = $('act-comment').value.trim(), pub = $('act-public').value.trim();
    if (comment) { body.comment = comment; }
    if (pub) { body.public_note = pub; }
    if (act.needs.indexOf('organisation') >= 0) { body.organisation_id = +$('act-organisation').value; }
    if (act.needs.indexOf('year') >= 0) { body.deferred_to_year = +$('act-year').value; }
    if (act.needs.indexOf('original') >= 0) { body.duplicate_of = $('act-original').value.trim(); }
    err.hidden = true;
    state.busy = true;
    $('act-submit').disabled = true;
    var files = act.to === 'resolved' ? Array.prototype.slice.call($('act-photos').files) : [];
    /* the photos first: a photo refused (too large, not a photo) changes nothing */
    uploadPhotos(files).then(function () {
      return Q.api('/api/v1/appeals/' + encodeURIComponent(reg) + '/transition',
        {method: 'POST', json: body});
    }).then(function () {
        closeForm();
        return load(t('saved'));
      }).catch(function (e) {
        if (e.status === 409 && /someone else/.test(e.message)) {
          closeForm();
          return load(t('stale_shown'));  /* nothing changed: the appeal as it is now */
        }
        err.textContent = t('error') + ': ' + e.message;
        err.hidden = false;
      }).then(function () { state.busy = false; $('act-submit').disabled = false; });
  });

  /* --- photos: thumbnails of every photo (staff see them all), the executor's upload --- */
  function uploadPhotos(files) {
    var note = $('act-uploading');
    note.hidden = !files.length;
    return files.reduce(function (done, file) {
      return done.then(function () {
        var data = new FormData();
        data.append('photo', file);
        data.append('kind', 'after');
        return Q.api('/api/v1/appeals/' + encodeURIComponent(reg) + '/photos',
          {method: 'POST', body: data});
      });
    }, Promise.resolve()).then(function () { note.hidden = true; },
      function (e) { note.hidden = true; throw e; });
  }

  /* an image needs the token, which <img src> cannot send: fetched, then shown as data */
  function imageData(url) {
    return fetch(url + '?city=' + encodeURIComponent(Q.config.city),
      {headers: {Authorization: 'Bearer ' + Q.token()}}).then(function (r) {
      if (!r.ok) { throw new Error(r.statusText); }
      return r.blob();
    }).then(function (blob) {
      return new Promise(function (resolve) {
        var reader = new FileReader();
        reader.onloadend = function () { resolve(reader.result); };
        reader.readAsDataURL(blob);
      });
    });
  }

  function loadPhotos() {
    Q.api('/api/v1/appeals/' + encodeURIComponent(reg) + '/photos').then(function (photos) {
      var list = $('thumbs');
      if (!list || !photos.length) { return; }
      $('photos-box').hidden = false;
      list.innerHTML = photos.map(function (p) {
        return '<li data-photo="' + esc(p.id) + '"><a href="#" data-page="' + esc(p.page_url) +
          '"><img alt="' + esc(t('photo_' + p.kind) + ' · ' + Q.when(p.added_at)) + '" width="' +
          esc(p.thumb_width) + '" height="' + esc(p.thumb_height) + '"></a>' +
          esc(t('photo_' + p.kind)) + '</li>';
      }).join('');
      photos.forEach(function (p) {
        imageData(p.thumb_url).then(function (src) {
          var img = list.querySelector('li[data-photo="' + p.id + '"] img');
          if (img) { img.src = src; }
        }).catch(function () { /* the list still names it */ });
      });
    }).catch(function () { /* no photos shown; the rest of the file is */ });
  }

  /* a thumbnail opens its page copy in a new tab */
  document.addEventListener('click', function (ev) {
    var a = ev.target.closest && ev.target.closest('#thumbs a[data-page]');
    if (!a) { return; }
    ev.preventDefault();
    var tab = window.open('', '_blank');
    fetch(a.getAttribute('data-page') + '?city=' + encodeURIComponent(Q.config.city),
      {headers: {Authorization: 'Bearer ' + Q.token()}}).then(function (r) { return r.blob(); })
      .then(function (blob) { if (tab) { tab.location = URL.createObjectURL(blob); } });
  });

  /* --- notes and the call-back --------------------------------------------------------- */
  $('note-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var kind = document.querySelector('input[name="note-kind"]:checked').value;
    var err = $('note-error');
    err.hidden = true;
    Q.api('/api/v1/staff/appeals/' + encodeURIComponent(reg) + '/notes', {method: 'POST',
      json: {kind: kind, body: $('note-body').value}}).then(function () {
      $('note-body').value = '';
      return load();
    }).catch(function (e) { err.textContent = t('error') + ': ' + e.message; err.hidden = false; });
  });

  $('callback-form').addEventListener('submit', function (ev) {
    ev.preventDefault();
    var err = $('callback-error');
    err.hidden = true;
    Q.api('/api/v1/appeals/' + encodeURIComponent(reg) + '/callback', {method: 'POST',
      json: {result: $('callback-result').value.trim() || null}}).then(function () {
      $('callback-result').value = '';
      return load(t('saved'));
    }).catch(function (e) { err.textContent = t('error') + ': ' + e.message; err.hidden = false; });
  });

  /* --- live: a change by someone else shows the appeal as it is now -------------------- */
  Q.live(function (change) {
    if (change.kind === 'ready') { if (state.file) { load(); } return; }
    if (change.kind === 'bulk' || change.reg === reg) {
      if (!state.busy) { load(LIVE); }
    }
  }, function (up) { document.body.setAttribute('data-live', up ? 'on' : 'off'); });

  Q.onAuth(function () { load(); });
})();
