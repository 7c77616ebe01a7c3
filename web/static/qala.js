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

  function word(table, key) {
    return (config.vocab[table] && config.vocab[table][key]) || key;
  }

  function when(iso) {
    if (!iso) { return '—'; }
    var d = new Date(iso);
    return d.toLocaleString(LOCALES[config.lang] || 'ru-RU',
      {year: 'numeric', month: '2-digit', day: '2-digit', hour: '2-digit', minute: '2-digit'});
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
    }
    return fetch(path, init).then(function (r) {
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
    });
  }

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
        source = new EventSource('/api/v1/staff/stream?ticket=' + encodeURIComponent(res.ticket));
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

  document.addEventListener('DOMContentLoaded', bindLogin);

  window.Qala = {config: config, t: t, word: word, esc: esc, when: when, api: api,
    token: token, who: who, onAuth: onAuth, signIn: signIn, signOut: signOut, map: map,
    marks: marks, live: live,
    ApiError: ApiError};
})();
