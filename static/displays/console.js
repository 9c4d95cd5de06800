// The organiser's console on a phone: commands take effect without a page load, and the
// screens' status refreshes every 3 seconds, so a screen that stopped listening shows at
// once. Without JavaScript every command is still a plain form post (redirect + flash).
(function () {
  "use strict";
  if (!window.fetch || !window.URLSearchParams) { return; }
  var REFRESH_MS = 3000;
  var message = document.getElementById("command-message");
  var panel = document.getElementById("panel");
  var screensBox = document.getElementById("screens");
  var words = document.getElementById("screen-words");
  var offline = document.getElementById("screens-offline");
  var timer;  // the status refresh (the console's page only)

  function say(text, ok) {
    if (!message) { return; }
    message.textContent = text || "";
    message.className = "console-message " + (ok ? "ok" : "error");
  }

  function show(el, visible) { if (el) { el.hidden = !visible; } }

  // The login has ended (the server's 401): say so where the commands answer, with the
  // way back to this page through the login form; no command works until then.
  function loggedOut(data) {
    clearInterval(timer);  // said once: nothing more to learn until the login
    say(data.message, false);
    if (!message || !data.login) { return; }
    var link = document.createElement("a");
    link.href = data.login + "?next=" + encodeURIComponent(location.pathname);
    link.textContent = message.dataset.login;
    message.appendChild(document.createTextNode(" "));
    message.appendChild(link);
  }

  function commandForm(name) {
    return panel ? panel.querySelector('form[data-command="' + name + '"]') : null;
  }

  // Each item's buttons and marks: hide or "show again", pin or unpin, as the state says.
  function applyItems(state) {
    var hidden = {};
    state.hidden.forEach(function (h) { hidden[h.key] = true; });
    var pinned = state.pinned ? state.pinned.key : null;
    var visible = {
      hide: function (key) { return !hidden[key]; },
      show: function (key) { return !!hidden[key]; },
      pin: function (key) { return key !== pinned; },
      unpin: function (key) { return key === pinned; }
    };
    Array.prototype.forEach.call(document.querySelectorAll("form.js-command[data-item]"), function (form) {
      var rule = visible[form.dataset.command];
      if (rule && form.dataset.item) { show(form, rule(form.dataset.item)); }
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-hidden-badge]"), function (el) {
      show(el, !!hidden[el.dataset.hiddenBadge]);
    });
    Array.prototype.forEach.call(document.querySelectorAll("[data-pinned-badge]"), function (el) {
      show(el, el.dataset.pinnedBadge === pinned);
    });
  }

  // The panel as the server says it is: the JSON of /status, also the answer to a command.
  function applyState(state) {
    if (!state) { return; }
    applyItems(state);
    if (!panel) { return; }
    show(document.getElementById("state-blank"), state.blank);
    show(document.getElementById("state-live"), !state.blank);
    show(document.getElementById("state-paused"), state.paused);
    show(commandForm("blank"), !state.blank);
    show(commandForm("unblank"), state.blank);
    show(commandForm("pause"), !state.paused);
    show(commandForm("resume"), state.paused);
    var pinned = document.getElementById("state-pinned");
    show(pinned, !!state.pinned);
    if (state.pinned) { pinned.querySelector(".js-pinned-label").textContent = state.pinned.label; }
    var hiddenBox = document.getElementById("state-hidden");
    var list = hiddenBox.querySelector(".js-hidden-list");
    var template = document.getElementById("show-again");
    if (list.contains(document.activeElement)) { return; }  // not under the finger
    list.textContent = "";
    state.hidden.forEach(function (h) {
      var li = document.createElement("li");
      var label = document.createElement("span");
      label.textContent = h.label + " ";
      li.appendChild(label);
      var form = template.content.firstElementChild.cloneNode(true);
      form.querySelector('input[name="item"]').value = h.key;
      bind(form);
      li.appendChild(form);
      list.appendChild(li);
    });
    show(hiddenBox, state.hidden.length > 0);
  }

  function applyScreens(screens) {
    if (!screensBox || !words) { return; }
    screens.forEach(function (s) {
      var li = screensBox.querySelector('li[data-screen-id="' + s.id + '"]');
      if (!li) { return; }
      var alive = s.link !== "active" ? s.link_words : (s.alive ? words.dataset.alive : words.dataset.dead);
      li.classList.toggle("not-alive", !s.alive);
      li.querySelector(".js-alive").textContent = alive;
      li.querySelector(".js-seen").textContent = s.seen_at || words.dataset.never;
      li.querySelector(".js-shown").textContent = s.shown_words || "—";
      li.querySelector(".js-version").textContent = s.version_words;
      li.querySelector(".js-link").textContent = s.link_words;
      var cache = li.querySelector(".js-cache");
      if (cache) {
        cache.textContent = s.cache_words || "—";
        cache.classList.toggle("console-mark", !!s.cache_short);
      }
      var bad = li.querySelector(".js-bad");
      if (bad) {
        bad.textContent = "";
        (s.bad || []).forEach(function (b) {
          var item = document.createElement("li");
          item.className = "console-mark";
          item.textContent = b.words;
          bad.appendChild(item);
        });
        show(bad, (s.bad || []).length > 0);
      }
    });
  }

  function apply(data) {
    applyState(data.state);
    applyScreens(data.screens || []);
  }

  function send(form) {
    var button = form.querySelector("button");
    if (button) { button.disabled = true; }
    fetch(form.action, {
      method: "POST",
      credentials: "same-origin",
      headers: {
        "Accept": "application/json",
        "X-CSRFToken": form.querySelector('input[name="csrf_token"]').value
      },
      body: new URLSearchParams(new FormData(form))
    })
      .then(function (r) {
        return r.json().catch(function () { throw new Error(r.status); });
      })
      .then(function (data) {
        if (data.login) { loggedOut(data); return; }
        apply(data);
        say(data.message, data.ok);
        if (data.expired && panel) { refresh(); }  // a lost session shows as a lost login
      })
      .catch(function () {
        // no answer, or not JSON (a lost network, an expired session): whether the
        // command landed is unknown, so say so rather than send it twice ("next")
        say(message ? message.dataset.failed : "", false);
      })
      .then(function () { if (button) { button.disabled = false; } });
  }

  function bind(form) {
    form.addEventListener("submit", function (e) {
      e.preventDefault();
      send(form);
    });
  }

  Array.prototype.forEach.call(document.querySelectorAll("form.js-command"), bind);

  if (!panel) { return; }
  function refresh() {
    if (document.hidden) { return; }
    fetch(panel.dataset.statusUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
      .then(function (r) {
        if (r.status === 401) { return r.json().then(function (data) { loggedOut(data); return null; }); }
        if (!r.ok) { throw new Error(r.status); }
        return r.json();
      })
      .then(function (data) { if (data) { apply(data); } show(offline, false); })
      .catch(function () {
        if (offline) { offline.textContent = panel.dataset.offline; show(offline, true); }
      });
  }
  timer = setInterval(refresh, REFRESH_MS);
})();
