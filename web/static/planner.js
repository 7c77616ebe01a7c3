/* The planner dashboard: on-time rates by organisation come from the ratings API, which
   is for staff (planners, controllers, inspectors), so they appear after signing in. */
(function () {
  'use strict';
  var Q = window.Qala, t = Q.t, esc = Q.esc, lang = Q.config.lang;
  var box = document.getElementById('ratings');

  function load(who) {
    if (!who) { box.innerHTML = ''; return; }
    box.innerHTML = '<p class="hint">' + esc(t('loading')) + '</p>';
    Q.api('/api/v1/ratings').then(function (r) {
      var orgs = r.organisations.filter(function (o) { return o.resolved > 0; });
      box.innerHTML = '<div class="rate-row hint"><span>' + esc(t('organisation')) +
        '</span><span>' + esc(t('on_time_rate')) + '</span><span>' + esc(t('appeals')) +
        '</span></div>' + orgs.slice(0, 20).map(function (o) {
          var rate = o.on_time_rate === null ? 0 : o.on_time_rate;
          var name = lang === 'kk' ? (o.name_kk || o.name_ru) : o.name_ru;
          return '<div class="rate-row" title="' + esc(t('median_hours')) + ': ' +
            esc(o.median_hours) + '"><span>' + esc(name) + '</span><span class="rate-bar">' +
            '<i data-rate="' + rate + '"></i></span><span>' +
            (rate * 100).toFixed(0) + '%</span></div>';
        }).join('');
      // widths through the CSSOM: the page's CSP allows no style attributes in HTML
      box.querySelectorAll('.rate-bar i[data-rate]').forEach(function (bar) {
        bar.style.width = (Number(bar.dataset.rate) * 100).toFixed(1) + '%';
      });
    }).catch(function (e) {
      box.innerHTML = '<p class="error">' + esc(e.message) + '</p>';
    });
  }

  Q.onAuth(load);
})();
