/* The knowledge base page: every category's article in the chosen language, searched; an
   admin edits one (the version it was read at goes with the edit: when another admin saved
   meanwhile, the page says so and shows the article as it is now). Other staff read. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc;
  var $ = function (id) { return document.getElementById(id); };
  var list = $('kb-list'), input = $('kb-q'), pick = $('kb-lang'), form = $('kb-form');
  var state = {items: [], current: null, seq: 0, timer: null};

  function isAdmin() { var w = Q.who(); return !!(w && w.role === 'admin'); }

  function fetchList() {
    var mine = ++state.seq, q = input.value.trim();
    if (!Q.token()) { list.innerHTML = ''; return; }
    var path = '/api/v1/staff/kb?lang=' + pick.value + (q ? '&q=' + encodeURIComponent(q) : '');
    Q.api(path).then(function (items) {
      if (mine !== state.seq) { return; }
      state.items = items;
      list.innerHTML = items.length ? items.map(function (a, i) {
        return '<li><button type="button" class="link" data-i="' + i + '" data-category="' +
          esc(a.category) + '">' + esc(a.category_name) + '</button>' +
          (a.published ? '' : ' <small>' + esc(t('kb_draft')) + '</small>') + '</li>';
      }).join('') : '<li class="hint">' + esc(t('kb_none')) + '</li>';
      list.querySelectorAll('button[data-i]').forEach(function (b) {
        b.addEventListener('click', function () { open(state.items[+b.getAttribute('data-i')]); });
      });
    });
  }

  function open(a) {
    state.current = a;
    $('kb-editor').hidden = false;
    $('kb-editor').setAttribute('data-category', a.category);
    $('kb-editor').setAttribute('data-version', a.version);
    $('kb-title').textContent = a.category_name;
    $('kb-meta').textContent = (a.published ? t('kb_published') : t('kb_draft')) + ' · ' +
      t('kb_version') + ' ' + a.version + ' · ' + Q.when(a.updated_at) + ' · ' + a.updated_by;
    $('kb-ask').value = a.ask;
    $('kb-tell').value = a.tell;
    $('kb-published').checked = a.published;
    var admin = isAdmin();
    ['kb-ask', 'kb-tell'].forEach(function (id) { $(id).readOnly = !admin; });
    $('kb-published').disabled = !admin;
    $('kb-save').hidden = !admin;
    $('kb-readonly').hidden = admin;
  }

  function reload(a, then) {
    return Q.api('/api/v1/staff/kb/' + encodeURIComponent(a.category) + '/' + a.lang)
      .then(function (now) { open(now); fetchList(); if (then) { then(); } });
  }

  form.addEventListener('submit', function (ev) {
    ev.preventDefault();
    var a = state.current;
    if (!a) { return; }
    $('kb-error').hidden = true;
    $('kb-done').hidden = true;
    Q.api('/api/v1/staff/kb/' + encodeURIComponent(a.category) + '/' + a.lang, {
      method: 'PUT',
      json: {ask: $('kb-ask').value, tell: $('kb-tell').value,
        published: $('kb-published').checked, version: a.version}
    }).then(function (saved) {
      open(saved);
      fetchList();
      $('kb-done').hidden = false;
    }, function (e) {
      var box = $('kb-error');
      if (e.status === 409) {
        reload(a, function () { box.textContent = t('kb_stale'); box.hidden = false; });
        return;
      }
      box.textContent = e.message;
      box.hidden = false;
    });
  });
  input.addEventListener('input', function () {
    clearTimeout(state.timer);
    state.timer = setTimeout(fetchList, 250);
  });
  pick.addEventListener('change', fetchList);
  Q.onAuth(function (w) {
    if (!w) { list.innerHTML = ''; $('kb-editor').hidden = true; return; }
    fetchList();
  });
})();
