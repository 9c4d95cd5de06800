// The staff scanner: camera frames → jsQR (served from /static/vendor) → POST → a big
// coloured answer and a sound, then straight back to scanning. The same code read again
// within 3 seconds is ignored, so a guest holding the phone still is scanned once.
(function () {
  "use strict";
  var root = document.getElementById("scanner");
  if (!root) { return; }
  var video = document.getElementById("video");
  var canvas = document.getElementById("canvas");
  var result = document.getElementById("result");
  var ctx = canvas.getContext("2d", { willReadFrequently: true });
  var last = { code: null, at: 0 };
  var busy = false;
  var audio = null;

  function beep(ok) {
    try {
      audio = audio || new (window.AudioContext || window.webkitAudioContext)();
      var tones = ok ? [880] : [220, 220];
      tones.forEach(function (freq, i) {
        var osc = audio.createOscillator();
        var gain = audio.createGain();
        osc.frequency.value = freq;
        osc.connect(gain); gain.connect(audio.destination);
        var t = audio.currentTime + i * 0.25;
        gain.gain.setValueAtTime(0.3, t);
        osc.start(t); osc.stop(t + 0.18);
      });
    } catch (e) { /* no sound is no reason to stop scanning */ }
  }

  function show(kind, text) {
    result.className = "scan-result " + kind;
    result.textContent = text;
    root.dataset.lastResult = kind;
  }

  function send(code) {
    busy = true;
    fetch(root.dataset.url, {
      method: "POST", credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRFToken": root.dataset.csrf },
      body: JSON.stringify({ code: code })
    }).then(function (r) { return r.json(); })
      .then(function (data) {
        var who = data.guest ? data.guest.name + " · " + data.guest.category_label + " — " : "";
        show(data.result, who + data.message);
        beep(data.result === "ok");
      })
      .catch(function () { show("error", root.dataset.errorText); beep(false); })
      .then(function () { busy = false; });
  }

  function seen(code) {
    var now = Date.now();
    if (code === last.code && now - last.at < 3000) { return; }
    last = { code: code, at: now };
    send(code);
  }

  function tick() {
    if (!busy && video.readyState === video.HAVE_ENOUGH_DATA && window.jsQR) {
      canvas.width = video.videoWidth; canvas.height = video.videoHeight;
      ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
      var image = ctx.getImageData(0, 0, canvas.width, canvas.height);
      var found = window.jsQR(image.data, image.width, image.height, { inversionAttempts: "dontInvert" });
      if (found && found.data) { seen(found.data); }
    }
    setTimeout(function () { window.requestAnimationFrame(tick); }, 120);
  }

  document.getElementById("manual").addEventListener("submit", function (e) {
    e.preventDefault();
    var input = document.getElementById("manual-code");
    if (input.value.trim()) { last = { code: null, at: 0 }; send(input.value.trim()); input.value = ""; }
  });

  if (!window.isSecureContext || !navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
    show("error", root.dataset.insecureText);
    return;
  }
  navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
    .then(function (stream) {
      video.srcObject = stream;
      video.play();
      window.requestAnimationFrame(tick);
    })
    .catch(function () { show("error", root.dataset.deniedText); });
})();
