/* The resident's account: sign in with a one-time code sent to the phone or e-mail of their
   appeals, then their appeals with statuses and deadlines in the page's language; a comment,
   a photo, confirm or dispute a fix, rate it. The session token (scoped to that contact by
   the server) lives in this tab's sessionStorage, apart from any staff token. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang, city = Q.config.city;
  var KEY = 'qala.resident';
  var $ = function (id) { return document.getElementById(id); };
  var codeForm = $('me-code-form'), loginForm = $('me-login-form'), msg = $('me-message');
  var signin = $('me-signin'), accountBox = $('me-account'), list = $('me-appeals');

  function session() {
    var s;
    try { s = JSON.parse(sessionStorage.getItem(KEY) || 'null'); } catch (e) { return null; }
    return s && s.city === city && s.until > Date.now() ? s : null;
  }

  function say(text, bad) {
    msg.textContent = text;
    msg.className = bad ? 'error' : 'hint';
  }

  function minutes(e) { return Math.max(1, Math.ceil((e.retryAfter || 60) / 60)); }

  /* the residents' API with the session's token (never the staff token) */
  function call(path, options) {
    options = options || {};
    var s = session(), headers = {'Accept': 'application/json'};
    if (s && options.auth !== false) { headers.Authorization = 'Bearer ' + s.token; }
    var init = {method: options.method || 'GET', headers: headers};
    if (options.json !== undefined) {
      headers['Content-Type'] = 'application/json';
      init.body = JSON.stringify(options.json);
    } else if (options.body) {
      init.body = options.body;
    }
    return fetch(path + (path.indexOf('?') < 0 ? '?' : '&') + 'city=' + encodeURIComponent(city),
      init).then(function (r) {
      return r.text().then(function (body) {
        var parsed = null;
        try { parsed = body ? JSON.parse(body) : null; } catch (e) { parsed = null; }
        if (!r.ok) {
          var err = new Q.ApiError(r.status, (parsed && parsed.detail) || r.statusText);
          err.retryAfter = parseInt(r.headers.get('Retry-After') || '0', 10);
          if (r.status === 401 && options.auth !== false) { signOut(); }
          throw err;
        }
        return parsed;
      });
    });
  }

  function show() {
    var s = session();
    signin.hidden = !!s;
    accountBox.hidden = !s;
    if (s) {
      $('me-who').textContent = s.contact;
      load();
    }
  }

  function signOut() {
    sessionStorage.removeItem(KEY);
    list.innerHTML = '';
    show();
  }

  codeForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var contact = $('me-contact').value.trim();
    call('/api/v1/resident/code', {method: 'POST', auth: false, json: {contact: contact}})
      .then(function () {
        say(t('me_code_sent'));
        loginForm.hidden = false;
        $('me-code').focus();
      }).catch(function (e) {
        if (e.status === 429) {
          say((/locked/.test(e.message) ? t('me_locked') : t('me_throttled'))
            .replace('{m}', minutes(e)), true);
        } else if (e.status === 422) {
          say(t('me_bad_contact'), true);
        } else { say(t('error') + ': ' + e.message, true); }
      });
  });

  loginForm.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var contact = $('me-contact').value.trim(), code = $('me-code').value.trim();
    call('/api/v1/resident/token', {method: 'POST', auth: false,
      json: {contact: contact, code: code}})
      .then(function (tok) {
        sessionStorage.setItem(KEY, JSON.stringify({token: tok.access_token, city: city,
          contact: contact, until: Date.now() + tok.expires_in * 1000}));
        $('me-code').value = '';
        say('');
        show();
      }).catch(function (e) {
        if (e.status === 429) {
          say((/locked/.test(e.message) ? t('me_locked') : t('me_throttled'))
            .replace('{m}', minutes(e)), true);
          loginForm.hidden = true;
        } else if (e.status === 401) {
          var left = (/(\d+) attempts left/.exec(e.message) || [])[1];
          say(/no valid code/.test(e.message) ? t('me_expired')
            : t('me_wrong_code').replace('{n}', left === undefined ? '?' : left), true);
        } else { say(t('error') + ': ' + e.message, true); }
      });
  });

  $('me-signout').addEventListener('click', signOut);

  function pick(a, base) { return a[base + '_' + lang] || a[base + '_ru'] || '—'; }

  function day(iso) {
    if (!iso) { return '—'; }
    return new Date(iso).toLocaleDateString({ru: 'ru-RU', kk: 'kk-KZ', en: 'en-GB'}[lang],
      {year: 'numeric', month: '2-digit', day: '2-digit'});
  }

  function row(label, value) { return '<span>' + esc(label) + '</span><span>' + value + '</span>'; }

  function card(a) {
    var late = a.open ? (a.overdue ? ' <span class="badge overdue">' + esc(t('overdue')) +
      '</span>' : ' <span class="badge ok">' + esc(t('in_time')) + '</span>') : '';
    var org = lang === 'kk' ? (a.organisation_kk || a.organisation_ru) : a.organisation_ru;
    var reg = esc(a.reg_number);
    var html = '<article class="box me-appeal" data-reg="' + reg + '">' +
      '<h3><a href="/track?reg=' + encodeURIComponent(a.reg_number) + '&city=' +
      encodeURIComponent(city) + (lang !== 'ru' ? '&lang=' + lang : '') + '">' + reg + '</a> · ' +
      esc(pick(a, 'category')) + '</h3><div class="kv">' +
      row(t('status'), '<b class="me-status">' + esc(Q.word('states', a.status)) + '</b>') +
      row(t('created'), esc(Q.when(a.created_at))) +
      row(t('deadline'), esc(Q.when(a.deadline_at)) + late) +
      (a.resolved_at ? row(t('resolved'), esc(Q.when(a.resolved_at))) : '') +
      row(t('address'), esc(pick(a, 'address'))) +
      row(t('organisation'), esc(org || '—')) +
      (a.can_dispute ? row(t('me_dispute_until'), esc(day(a.dispute_until))) : '') +
      '</div>';
    if (a.queue_yard) {
      html += '<p><a class="me-queue" href="/queue?city=' + encodeURIComponent(city) +
        (lang !== 'ru' ? '&lang=' + lang : '') + '#yard-' + a.queue_yard + '">' +
        esc(t('me_queue_place')) + '</a></p>';
    }
    if (a.photos.length) {
      html += '<div class="me-photos">' + a.photos.map(function (p) {
        return '<img alt="" data-photo="' + p.id + '" data-src="' + esc(p.thumb_url) + '">';
      }).join('') + '</div>';
    }
    if (a.notes.length) {
      html += '<ul class="me-notes">' + a.notes.map(function (n) {
        return '<li><span class="hint">' + esc(Q.when(n.at)) + ' · ' +
          esc(n.kind === 'resident' ? t('me_resident') : t('me_staff_note')) + '</span><br>' +
          esc(n.body) + '</li>';
      }).join('') + '</ul>';
    }
    html += '<div class="me-actions">';
    if (a.can_confirm) {
      html += '<button type="button" data-act="confirm">' + esc(t('me_confirm')) + '</button>';
    }
    if (a.can_dispute) {
      html += '<button type="button" data-act="dispute">' + esc(t('me_dispute')) + '</button>';
    } else if (a.can_rate) {
      html += '<span class="hint">' + esc(t('me_dispute_closed')) + '</span>';
    }
    html += '</div>';
    if (a.can_rate) {
      html += '<div class="me-actions me-stars" role="group" aria-label="' + esc(t('me_rate')) +
        '"><span>' + esc(a.rating ? t('me_rated') : t('me_rate')) + ':</span>';
      for (var i = 1; i <= 5; i += 1) {
        html += '<button type="button" data-rate="' + i + '" class="' +
          (a.rating && i <= a.rating ? 'on' : '') + '" aria-pressed="' +
          (a.rating === i) + '">' + i + '★</button>';
      }
      html += '</div>';
    }
    html += '<form class="me-comment"><label for="c-' + reg + '">' + esc(t('me_comment')) +
      '</label><textarea id="c-' + reg + '" name="body" rows="2" maxlength="2000" required>' +
      '</textarea><button type="submit">' + esc(t('me_add_comment')) + '</button></form>' +
      '<form class="me-photo"><label for="p-' + reg + '">' + esc(t('me_add_photo')) +
      '</label><input id="p-' + reg + '" name="photo" type="file" accept="image/*">' +
      '</form><p class="hint me-said" role="status"></p></article>';
    return html;
  }

  /* thumbnails need the session's token: fetched, shown as data (the CSP allows data:
     images, not blob: ones) */
  function thumbs(root) {
    root.querySelectorAll('img[data-src]').forEach(function (img) {
      var s = session();
      if (!s) { return; }
      fetch(img.getAttribute('data-src') + '?city=' + encodeURIComponent(city),
        {headers: {Authorization: 'Bearer ' + s.token}})
        .then(function (r) { return r.ok ? r.blob() : null; })
        .then(function (b) {
          if (!b) { return; }
          var reader = new FileReader();
          reader.onloadend = function () { img.src = reader.result; };
          reader.readAsDataURL(b);
        });
    });
  }

  function load() {
    list.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    call('/api/v1/resident/appeals').then(function (rows) {
      list.innerHTML = rows.length ? rows.map(card).join('')
        : '<p class="hint">' + esc(t('me_none')) + '</p>';
      Q.filePicks(list);
      thumbs(list);
    }).catch(function (e) {
      list.innerHTML = '<p class="error">' + esc(t('error') + ': ' + e.message) + '</p>';
    });
  }

  function said(box, text, bad) {
    var p = box.querySelector('.me-said');
    p.textContent = text;
    p.className = (bad ? 'error' : 'hint') + ' me-said';
  }

  function base(reg) { return '/api/v1/resident/appeals/' + encodeURIComponent(reg); }

  list.addEventListener('click', function (ev) {
    var btn = ev.target.closest('button'), box = ev.target.closest('.me-appeal');
    if (!btn || !box || btn.type === 'submit') { return; }
    var reg = box.getAttribute('data-reg'), act = btn.getAttribute('data-act');
    var rate = btn.getAttribute('data-rate');
    var done;
    if (act) {
      done = call(base(reg) + '/' + act, {method: 'POST', json: {}}).then(function () {
        return t(act === 'dispute' ? 'me_disputed' : 'me_confirmed');
      });
    } else if (rate) {
      done = call(base(reg) + '/rating', {method: 'PUT', json: {rating: parseInt(rate, 10)}})
        .then(function () { return t('me_rated') + ': ' + rate; });
    } else { return; }
    done.then(function (text) {
      load();
      setTimeout(function () {
        var again = list.querySelector('.me-appeal[data-reg="' + reg + '"]');
        if (again) { said(again, text); }
      }, 300);
    }).catch(function (e) {
      said(box, e.status === 409 && /ended on/.test(e.message) ? t('me_dispute_closed')
        : t('error') + ': ' + e.message, true);
    });
  });

  list.addEventListener('submit', function (ev) {
    var form = ev.target, box = form.closest('.me-appeal');
    if (!form.classList.contains('me-comment')) { return; }
    ev.preventDefault();
    var reg = box.getAttribute('data-reg');
    call(base(reg) + '/comments', {method: 'POST', json: {body: form.body.value}})
      .then(function () { load(); })
      .catch(function (e) { said(box, t('error') + ': ' + e.message, true); });
  });

  list.addEventListener('change', function (ev) {
    var input = ev.target, box = input.closest('.me-appeal');
    if (!input.files || !input.files.length || !box) { return; }
    var data = new FormData();
    data.append('photo', input.files[0]);
    call(base(box.getAttribute('data-reg')) + '/photos', {method: 'POST', body: data})
      .then(function () { said(box, t('me_photo_waits')); })
      .catch(function (e) { said(box, t('error') + ': ' + e.message, true); });
  });

  show();
})();
