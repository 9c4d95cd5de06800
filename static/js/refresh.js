// Re-fetch a server-rendered part of the page every 10 seconds, while the page is visible
// and nobody is in the middle of a form. The fragment is our own escaped HTML.
(function () {
  "use strict";
  var box = document.getElementById("ratings-live");
  if (!box || !window.fetch) { return; }
  setInterval(function () {
    if (document.hidden || box.contains(document.activeElement)) { return; }
    delete box.dataset.refresh; // the mark says how this refresh ended, not an earlier one
    fetch(box.dataset.url, { credentials: "same-origin" })
      // redirected: the login ended, and this is the login form, not the fragment
      .then(function (r) { if (!r.ok || r.redirected) { throw new Error(r.status); } return r.text(); })
      .then(function (html) { box.innerHTML = html; box.dataset.refresh = "ok"; })
      // keep what is shown; try again next time. The mark says so (and lets a test wait for it).
      .catch(function () { box.dataset.refresh = "kept"; });
  }, 10000);
})();
