// Resumable uploads for <input type="file" data-tus-purpose="..." data-tus-target="...">
// inside a normal form (templates/transfers/_widget.html), over tus (static/vendor/tus/,
// experience/transfers/views.py).
//
// Progressive enhancement: without this script the form posts the file as a plain upload.
// With it, submitting the form sends the file in 8 MB chunks instead, with a progress bar
// (percent, speed, time left). A dropped connection is retried with growing pauses and,
// after that, whenever the browser is back online or every 30 s; a reload resumes from the
// server's offset once the same file is chosen again (tus-js-client keeps the upload's
// address in localStorage under the file's fingerprint). The texts come from the page, in
// its language.
(function () {
  "use strict";
  if (!window.tus || !window.tus.isSupported || !window.Promise) { return; }

  // 8 MB: one chunk per request is seconds of sending on an office uplink, so a request's
  // own cost (session, a database write, an fsync) stays small beside it; a chunk cut off
  // keeps what had arrived anyway; and it stays well below the request limit a proxy in
  // front is set to for the app's forms (MAX_CONTENT_LENGTH, 24 MB).
  var CHUNK = 8 * 1024 * 1024;
  var RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000, 60000];
  var RESTART_AFTER = 30000;

  function fill(template, values) {
    return template.replace(/\{(\w+)\}/g, function (all, name) {
      return Object.prototype.hasOwnProperty.call(values, name) ? values[name] : all;
    });
  }

  function megabytes(bytes) {
    return (bytes / 1048576).toFixed(bytes < 10485760 ? 1 : 0) + " MB";
  }

  function attach(input) {
    var form = input.form;
    var box = form && form.querySelector("[data-tus-progress]");
    if (!box) { return; }
    var text = box.dataset;
    var bar = box.querySelector("progress");
    var figures = box.querySelector(".tus-figures");
    var message = box.querySelector(".tus-message");
    var tokenField = form.querySelector("input[name=csrf_token]") || document.querySelector("input[name=csrf_token]");
    var endpoint = input.dataset.tusEndpoint || "/transfers/";
    var purpose = input.dataset.tusPurpose;
    var target = input.dataset.tusTarget || "";
    var buttons = form.querySelectorAll("button, input[type=submit]");
    var upload = null;
    var restartTimer = null;
    var samples = [];
    var resumed = false;
    var last = [0, 0];

    function say(words, kind) {
      message.textContent = words;
      box.className = "tus" + (kind ? " tus-" + kind : "");
    }

    function stalled() {
      say(navigator.onLine === false ? text.textOffline : text.textStalled, "stalled");
      samples = [];  // no speed, no time left, until bytes move again
      if (last[1]) { show(last[0], last[1], 0); }
    }

    function duration(seconds) {
      seconds = Math.max(1, Math.round(seconds));
      var h = Math.floor(seconds / 3600), m = Math.floor(seconds % 3600 / 60), s = seconds % 60;
      if (h) { return fill(text.textHours, { h: h, m: m }); }
      if (m) { return fill(text.textMinutes, { m: m, s: s }); }
      return fill(text.textSeconds, { s: s });
    }

    function progress(sent, total) {
      var now = Date.now();
      if (resumed) {
        resumed = false;
        say(fill(text.textResuming, { done: megabytes(sent) }));
      }
      samples.push([now, sent]);
      // speed over the last 10 s: steady enough to read, quick to follow a change
      while (samples.length > 2 && now - samples[0][0] > 10000) { samples.shift(); }
      var first = samples[0], speed = now > first[0] ? (sent - first[1]) * 1000 / (now - first[0]) : 0;
      show(sent, total, speed);
    }

    function show(sent, total, speed) {
      last = [sent, total];
      bar.value = total ? Math.floor(1000 * sent / total) : 0;
      figures.textContent = fill(text.textProgress, {
        percent: (total ? Math.floor(100 * sent / total) : 0) + "%",
        done: megabytes(sent),
        total: megabytes(total),
        speed: speed > 0 ? megabytes(speed) : "–",
        left: speed > 0 ? duration((total - sent) / speed) : "–"
      });
    }

    function busy(on) {
      for (var i = 0; i < buttons.length; i++) { buttons[i].disabled = on; }
      input.disabled = on;
    }

    function retryable(error) {
      var status = error && error.originalResponse ? error.originalResponse.getStatus() : 0;
      return status === 0 || status >= 500 || status === 409 || status === 423;
    }

    function restart() {
      clearTimeout(restartTimer);
      restartTimer = null;
      if (upload) { stalled(); upload.start(); }
    }

    function start(file) {
      box.hidden = false;
      busy(true);
      samples = [];
      bar.value = 0;
      figures.textContent = "";
      say(text.textStarting);
      upload = new window.tus.Upload(file, {
        endpoint: endpoint,
        chunkSize: CHUNK,
        retryDelays: RETRY_DELAYS,
        removeFingerprintOnSuccess: true,
        metadata: { filename: file.name, filetype: file.type || "", purpose: purpose, target: target },
        headers: { "X-CSRFToken": tokenField ? tokenField.value : "" },
        // the purpose and the target belong to it: the same file for another work is another upload
        fingerprint: function (f) {
          return Promise.resolve(["experience-tus", purpose, target, f.name, f.size, f.lastModified, endpoint].join("|"));
        },
        onProgress: progress,
        onChunkComplete: function () { if (/tus-stalled/.test(box.className)) { say(""); } },
        onShouldRetry: function (error) {
          if (!retryable(error)) { return false; }
          stalled();
          return true;
        },
        onSuccess: function () {
          bar.value = 1000;
          say(text.textDone, "done");
          var next = input.dataset.tusNext;
          setTimeout(function () {
            var target = new URL(next || window.location.href, window.location.href);
            if (target.pathname + target.search === window.location.pathname + window.location.search) {
              // the same page (perhaps another #part of it): a hash change alone would not reload it
              window.history.replaceState(null, "", target.href);
              window.location.reload();
            } else {
              window.location.assign(target.href);
            }
          }, 800);
        },
        onError: function (error) {
          if (retryable(error)) {
            // out of quick retries: keep trying while the page is open
            stalled();
            clearTimeout(restartTimer);
            restartTimer = setTimeout(restart, RESTART_AFTER);
            return;
          }
          var response = error.originalResponse;
          var reason = response && response.getBody() && response.getStatus() < 500 && response.getBody().length < 500 &&
            !/^\s*</.test(response.getBody()) ? response.getBody() : String(error.message || error).slice(0, 200);
          say(fill(text.textFailed, { reason: reason }), "failed");
          upload = null;
          busy(false);
        }
      });
      upload.findPreviousUploads().then(function (previous) {
        if (previous.length) {
          resumed = true;
          upload.resumeFromPreviousUpload(previous[0]);
        }
        upload.start();
      });
    }

    // a page waiting for the worker's checks reloads itself, but never under an upload or a chosen file
    var refresh = parseInt(box.dataset.tusRefresh || "0", 10);
    if (refresh > 0) {
      setInterval(function () {
        if (!upload && !(input.files && input.files.length)) { window.location.reload(); }
      }, refresh * 1000);
    }
    window.addEventListener("online", function () { if (restartTimer) { restart(); } });
    form.addEventListener("submit", function (event) {
      var file = input.files && input.files[0];
      if (!file || upload) {
        if (upload) { event.preventDefault(); }
        return; // no file: the form goes as it would without this script, and the server says what is missing
      }
      event.preventDefault();
      start(file);
    });
    input.addEventListener("change", function () { box.hidden = true; say(""); });
  }

  var inputs = document.querySelectorAll("input[type=file][data-tus-purpose]");
  for (var i = 0; i < inputs.length; i++) { attach(inputs[i]); }
})();
