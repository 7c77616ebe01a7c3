/* The public yard queue: find a yard by address (Russian or Kazakh), show it in the table
   and on the map; a link to #yard-<id> (from a resident's appeal) opens at its row. The
   legend's colours are the markers' own (the page's config). */
(function () {
  'use strict';
  var Q = window.Qala, conf = Q.config, map = Q.map();
  var form = document.getElementById('queue-find'), input = document.getElementById('queue-search');
  var none = document.getElementById('queue-search-none');
  var rows = Array.prototype.slice.call(document.querySelectorAll('#queue-table tr[data-yard]'));
  var marker = null;

  var dots = {funded: 'funded', unfunded: 'unfunded', 'yard-fill': 'yard_fill'};
  Object.keys(dots).forEach(function (cls) {
    var el = document.querySelector('#queue-legend .legend-dot.' + cls);
    if (el) { el.style.background = conf.legend[dots[cls]]; }  // the CSSOM: allowed by the CSP
  });

  function show(row) {
    rows.forEach(function (r) { r.classList.remove('chosen'); });
    row.classList.add('chosen');
    row.scrollIntoView({block: 'center'});
    var ll = [parseFloat(row.getAttribute('data-lat')), parseFloat(row.getAttribute('data-lon'))];
    if (map) {
      map.setView(ll, 17);
      if (marker) { marker.setLatLng(ll); } else {
        marker = L.circleMarker(ll, {radius: 14, color: '#b3261e', weight: 3, fill: false,
          pane: Q.marks(), interactive: false}).addTo(map);
      }
    }
  }

  function find(text) {
    var words = text.toLowerCase().replace(/[,.]/g, ' ').split(/\s+/).filter(Boolean);
    if (!words.length) { return; }
    var hit = rows.find(function (r) {
      var hay = r.getAttribute('data-search');
      return words.every(function (w) { return hay.indexOf(w) >= 0; });
    });
    none.hidden = !!hit;
    if (hit) {
      show(hit);
      history.replaceState(null, '', location.pathname + location.search + '#' + hit.id);
    }
  }

  form.addEventListener('submit', function (ev) { ev.preventDefault(); find(input.value); });
  input.addEventListener('change', function () { find(input.value); });
  rows.forEach(function (r) {
    r.addEventListener('click', function (ev) {
      if (ev.target.closest('details')) { return; }
      show(r);
    });
  });
  var target = location.hash && document.getElementById(location.hash.slice(1));
  if (target && target.hasAttribute('data-yard')) {
    target.querySelector('details.why').open = true;
    show(target);
  }
})();
