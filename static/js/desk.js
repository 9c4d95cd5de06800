// The desk's live figures: poll every 5 seconds, update the table and the latest list.
(function () {
  "use strict";
  var live = document.getElementById("live");
  if (!live || !window.fetch) { return; }
  var status = document.getElementById("live-status");
  function text(el, value) { if (el) { el.textContent = value; } }
  function refresh() {
    fetch(live.dataset.url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) { if (!r.ok) { throw new Error(r.status); } return r.json(); })
      .then(function (data) {
        data.counts.forEach(function (c) {
          var row = live.querySelector('tr[data-category="' + c.category + '"]');
          if (!row) { return; }
          text(row.querySelector(".invited"), c.invited);
          text(row.querySelector(".arrived"), c.arrived);
          text(row.querySelector(".walk_ins"), c.walk_ins);
        });
        var total = live.querySelector("tr.total");
        text(total.querySelector(".invited"), data.totals.invited);
        text(total.querySelector(".arrived"), data.totals.arrived);
        text(total.querySelector(".walk_ins"), data.totals.walk_ins);
        var list = document.getElementById("latest");
        list.textContent = "";
        data.latest.forEach(function (g) {
          var li = document.createElement("li");
          li.textContent = g.at.slice(11) + " " + g.name + " ";
          var span = document.createElement("span");
          span.className = "muted";
          span.textContent = g.category;
          li.appendChild(span);
          list.appendChild(li);
        });
        text(status, "");
      })
      .catch(function () { text(status, live.dataset.offline || "…"); });
  }
  setInterval(refresh, 5000);
})();
