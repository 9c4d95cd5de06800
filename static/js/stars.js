// With scripts, a row of stars fills up to the one chosen; without, the radios work alone.
(function () {
  "use strict";
  document.querySelectorAll(".star-row").forEach(function (row) {
    var labels = Array.prototype.slice.call(row.querySelectorAll("label.star"));
    function paint() {
      var chosen = labels.findIndex(function (l) { return l.querySelector("input").checked; });
      labels.forEach(function (l, i) { l.classList.toggle("on", chosen >= 0 && i <= chosen); });
    }
    row.addEventListener("change", paint);
    paint();
  });
})();
