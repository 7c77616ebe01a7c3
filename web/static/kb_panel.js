/* The knowledge base beside the operator's registration form: the article of the category
   chosen in the form (what to ask the caller, what to tell them), and a search over every
   article. Read from /api/v1/staff/kb once staff sign in. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var $ = function (id) { return document.getElementById(id); };
  var box = $('kb-article'), hits = $('kb-hits'), input = $('kb-q');
  if (!box) { return; }
  var HINT = box.innerHTML, seq = 0, timer = null;

  function show(a) {
    box.setAttribute('data-category', a.category);
    box.innerHTML = '<h3 id="kb-category">' + esc(a.category_name) + '</h3>' +
      '<h4>' + esc(t('kb_ask')) + '</h4><p class="kb-text" id="kb-ask">' + esc(a.ask) + '</p>' +
      '<h4>' + esc(t('kb_tell')) + '</h4><p class="kb-text" id="kb-tell">' + esc(a.tell) + '</p>';
  }

  function load(code) {
    var mine = ++seq;
    if (!code) { box.removeAttribute('data-category'); box.innerHTML = HINT; return; }
    if (!Q.token()) { return; }
    Q.api('/api/v1/staff/kb/' + encodeURIComponent(code) + '/' + lang).then(function (a) {
      if (mine === seq) { show(a); }
    }, function (e) {
      if (mine !== seq) { return; }
      box.removeAttribute('data-category');
      box.innerHTML = '<p class="hint">' + esc(e.status === 404 ? t('kb_none') : e.message) + '</p>';
    });
  }

  function search() {
    var q = input.value.trim();
    hits.innerHTML = '';
    if (!q || !Q.token()) { return; }
    Q.api('/api/v1/staff/kb?lang=' + lang + '&q=' + encodeURIComponent(q)).then(function (found) {
      if (input.value.trim() !== q) { return; }
      hits.innerHTML = found.length ? found.slice(0, 8).map(function (a, i) {
        return '<li><button type="button" class="link" data-i="' + i + '">' +
          esc(a.category_name) + '</button></li>';
      }).join('') : '<li class="hint">' + esc(t('kb_none')) + '</li>';
      hits.querySelectorAll('button[data-i]').forEach(function (b) {
        b.addEventListener('click', function () { seq++; show(found[+b.getAttribute('data-i')]); });
      });
    }, function () { hits.innerHTML = ''; });
  }

  document.addEventListener('change', function (ev) {
    if (ev.target && ev.target.id === 'reg-category') { load(ev.target.value); }
  });
  input.addEventListener('input', function () {
    clearTimeout(timer);
    timer = setTimeout(search, 250);
  });
  Q.onAuth(function (w) {
    if (w && $('reg-category')) { load($('reg-category').value); }
    if (!w) { load(''); hits.innerHTML = ''; }
  });
})();
