/* The event screen player (现场大屏): plain JS, no framework, no build step.
 *
 * Two loops that do not trust each other:
 * - the poll loop asks /sync every sync_ms with the version it has (If-None-Match) and
 *   only records what the server said (the display state, the time of the last success);
 * - the renderer's tick (every 250 ms, so at least every second) decides what may be on
 *   the stage *now*: live scenes (check-in counts, comments, ratings, a pinned comment)
 *   only while the last successful sync is younger than stale_ms. If the poll loop dies
 *   or the network drops, the tick alone takes the live scene down and shows the welcome
 *   or the works: a screen that stopped listening fails safe by itself. Guest photos are
 *   guest content too: a stale screen leaves them out (their approval may have been
 *   withdrawn since). The figures have an age of their own: /live can fail while /sync
 *   answers, so live scenes also need figures younger than LIVE_MAX_AGE × live_ms.
 * - blank is the panic button: every drawing path (start, advance, show, rebuild, draw)
 *   asks refuseWhileBlank() first, so no caller (a content or figures answer, a video's
 *   end, a command) can put anything but the blank slide on the stage while it is on.
 *
 * - offline: where the browser has service workers, the page keeps its playlist's media
 *   and its own files in Cache Storage ("screen-<token>-<cv>", filled from /manifest;
 *   sw.js answers from it), so with the server unreachable the works keep playing. Polls
 *   then back off (1.5 s doubling to BACKOFF_MAX_MS) and resynchronise on the first answer:
 *   the state first (a blank given meanwhile applies at once), then the content if its
 *   version moved. A dead link (410) deletes every "screen-<token>-*" cache.
 *   The page notes its link's end in "screens-index" for the worker, which deletes an
 *   ended screen's caches even when no page of it runs again (a PC switched off).
 * - bad media: a file that arrived and will not play (a video's decode or unsupported-
 *   source error whose bytes can be fetched, an image whose fetch succeeds but which does
 *   not load), while the last sync is fresh, is skipped until the playlist changes and
 *   reported in the next sync (bad=work:12). Anything else that fails (the network, a
 *   slow start, a stale link whose cache may simply lack the file) is skipped for now,
 *   not reported, and tried again on reconnection or after SKIP_RETRY_MS. A watchdog puts
 *   the welcome up when the stage has shown nothing for WATCHDOG_MS (an empty playlist,
 *   every item skipped, an error while drawing).
 *
 * The page exposes a small read-only state for tests and the console on <body>:
 * data-scene, data-item, data-fresh ("1"/"0"), data-blank ("1"/"0"), data-cache
 * ("none", "<cached>/<total>", "" not known yet), data-bad (the keys it skips).
 */
(function () {
  "use strict";

  var body = document.body;
  var stage = document.getElementById("stage");
  var T = JSON.parse(document.getElementById("screen-text").textContent);
  var URLS = {
    sync: body.dataset.syncUrl,
    content: body.dataset.contentUrl,
    live: body.dataset.liveUrl,
    manifest: body.dataset.manifestUrl,
    worker: body.dataset.workerUrl,
  };
  var CACHE_PREFIX = body.dataset.cachePrefix || "";
  // the worker's index of screens' link ends (sw.js): "/s/<token>/expires" → epoch ms
  var INDEX = "screens-index";
  var INDEX_URL = (URLS.sync || "").replace(/\/sync$/, "/expires");
  var LIVE_SCENES = { checkin: true, comments: true, ratings: true };
  var STAGE_W = 1920;
  var STAGE_H = 1080;
  // a text work's page: about eight lines of 34 large characters
  var TEXT_PAGE_CHARS = 260;
  var COMMENTS_PER_SLIDE = 6;
  var REQUEST_TIMEOUT_MS = 5000;
  // figures older than this many live_ms are not shown: about two failed fetches in a row
  var LIVE_MAX_AGE = 3;
  // failed polls wait longer each time, up to this, with some jitter: 200 screens whose
  // server restarts do not all knock at the same instant
  var BACKOFF_MAX_MS = 6000;
  // a video that has not started playing by then is skipped for now
  var VIDEO_START_MS = 6000;
  // what failed for a passing reason (the network, a slow start) is tried again after this,
  // or at once when the server answers again after failures
  var SKIP_RETRY_MS = 180000;
  // a video whose time has not moved for this long while it should play is skipped
  var VIDEO_STALL_MS = 10000;
  // the stage showing nothing for this long: the welcome goes up
  var WATCHDOG_MS = 4000;
  // an offline cache left incomplete (the network failed half way) is tried again after
  var CACHE_RETRY_MS = 30000;
  // filling the cache, a fetch is given up when no byte has come for this long (a stalled
  // connection must not hold the filling up for good); a video's server may pause longer
  // between chunks on a busy link. Slow but moving is not stalled: each chunk re-arms it.
  var FILL_IDLE_MS = 20000;
  var FILL_VIDEO_IDLE_MS = 60000;
  // at most this many items reported as unplayable in one sync
  var BAD_MAX = 8;

  // What the server said. Safe defaults until the first sync: nothing live.
  var timing = { sync_ms: 1500, stale_ms: 8000, live_ms: 5000 };
  var state = null;
  var etag = null;
  var lastSyncOk = 0; // performance.now() of the last sync answered 200 or 304
  var content = null;
  var live = null;
  var liveAt = -Infinity; // performance.now() of the last /live request, answered or not
  var liveOkAt = 0; // performance.now() of the last /live answered 200
  // a goto to a live scene whose figures were missing or old: {seq, scene, at}, followed
  // when figures come, dropped when a fetch started after it fails
  var pendingGoto = null;
  var liveLoading = false;
  var contentLoading = false;
  var contentTriedAt = -Infinity;
  var gone = false;
  // commands seen so far: a screen that (re)starts must not replay old ones
  var seenNext = null;
  var seenGotoSeq = null;
  // polls failed in a row (0: the last one was answered)
  var syncFailures = 0;
  var pollTimer = null;
  var polling = false;
  // the offline cache: supported null (not known yet), true or false; doneCv the playlist
  // version fully cached
  var offline = { supported: null, filling: false, cached: 0, total: 0, doneCv: null, retryAt: 0 };
  // media that would not play, by address (skipped), and their items' keys (reported)
  var badUrls = {};
  var badKeys = [];
  // media that failed for a passing reason: address → performance.now() until which it is skipped
  var skippedUntil = {};
  var invisibleSince = 0;
  var videoWatch = { node: null, time: -1, movedAt: 0 };

  // What is on the stage.
  var current = null; // {scene, key, slides, index, endsAt, page}
  var sceneIndex = -1;
  var timers = [];

  function t(name, values) {
    var text = T[name] || "";
    Object.keys(values || {}).forEach(function (k) {
      text = text.split("{" + k + "}").join(String(values[k]));
    });
    return text;
  }

  function el(tag, className, text) {
    var node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  function fresh() {
    return lastSyncOk > 0 && performance.now() - lastSyncOk < timing.stale_ms;
  }

  // Figures the screen may still show: fetched lately. A /live that keeps failing while
  // /sync answers must not leave old counts or a since-withdrawn comment up for good.
  function liveCurrent() {
    return live !== null && liveOkAt > 0 && performance.now() - liveOkAt < LIVE_MAX_AGE * timing.live_ms;
  }

  function liveAllowed() {
    return fresh() && liveCurrent();
  }

  function blanked() {
    return !!(state && state.blank);
  }

  // Blank is the panic button: while it is on nothing but the blank slide may be drawn,
  // whoever asks. Every drawing path calls this first (true: do not draw); it puts the
  // blank slide up itself when it is not up yet, so the refusal never leaves content.
  function refuseWhileBlank() {
    if (gone) return true;
    if (!blanked()) return false;
    if (content && body.dataset.blank !== "1") drawBlank();
    return true;
  }

  // Guest photos are guest content, like comments: a stale screen cannot hear that an
  // approval was withdrawn, so it falls back to the welcome and the screened works only.
  function guestContentAllowed(item) {
    return !(item && item.kind === "guest_photo") || fresh();
  }

  function slideAllowed(slide) {
    return !hidden(slide.key) && guestContentAllowed(slide.item) && playable(slide);
  }

  // -- Media that would not play --------------------------------------------------------

  function mediaUrlOf(slide) {
    if (!slide) return null;
    if (slide.photo) return slide.photo.url;
    if (slide.item && (slide.item.kind === "video" || slide.item.kind === "guest_photo")) return slide.item.url;
    return null;
  }

  function playable(slide) {
    var url = mediaUrlOf(slide);
    if (!url) return true;
    return !badUrls[url] && !(skippedUntil[url] > performance.now());
  }

  function markBad(slide) {
    var url = mediaUrlOf(slide);
    if (!url || badUrls[url]) return;
    badUrls[url] = true;
    if (slide.key && badKeys.indexOf(slide.key) === -1 && badKeys.length < BAD_MAX) badKeys.push(slide.key);
    body.dataset.bad = badKeys.join(",");
  }

  function skipForNow(slide) {
    var url = mediaUrlOf(slide);
    if (url && !badUrls[url]) skippedUntil[url] = performance.now() + SKIP_RETRY_MS;
  }

  // The slide on the stage failed and the next one goes up. Reported (and skipped until
  // the playlist changes) only when the file itself is broken and the link is fresh: a
  // stale screen's failure may be its cache lacking the file, which the network would fix.
  function skipFailed(slide, broken) {
    var url = mediaUrlOf(slide);
    if (broken && fresh()) markBad(slide);
    else skipForNow(slide);
    if (!current || mediaUrlOf(current.slides[current.index]) !== url) return;
    advance();
  }

  // Whether the file's bytes can be fetched now (from the cache or the server): a media
  // element's failure on a file that arrives is the file's fault, not the network's.
  function arrives(url) {
    return request(url, { Range: "bytes=0-0" })
      .then(function (response) {
        if (response.body) response.body.cancel().catch(function () {});
        return response.status === 200 || response.status === 206;
      })
      .catch(function () { return false; });
  }

  function failedImage(slide, url) {
    return function () {
      arrives(url).then(function (ok) { skipFailed(slide, ok); });
    };
  }

  function forgetBad() {
    badUrls = {};
    badKeys = [];
    skippedUntil = {};
    body.dataset.bad = "";
  }

  function hidden(key) {
    return !!(key && state && state.hidden && state.hidden.indexOf(key) !== -1);
  }

  // -- The stage: 1920×1080, scaled uniformly to any window ------------------------------

  function fit() {
    var scale = Math.min(window.innerWidth / STAGE_W, window.innerHeight / STAGE_H);
    stage.style.transform = "translate(" + (window.innerWidth - STAGE_W * scale) / 2 + "px, " +
      (window.innerHeight - STAGE_H * scale) / 2 + "px) scale(" + scale + ")";
  }

  // -- Talking to the server ------------------------------------------------------------

  function request(url, headers) {
    var controller = new AbortController();
    var timer = setTimeout(function () { controller.abort(); }, REQUEST_TIMEOUT_MS);
    // no-store: the browser cache must never answer for the server (a stale 200 would
    // look like a fresh link) and must pass our own 304 through
    return fetch(url, { headers: headers || {}, cache: "no-store", credentials: "omit", signal: controller.signal })
      .finally(function () { clearTimeout(timer); });
  }

  function shownNow() {
    // what the stage really has: the console words "blank" as 安全画面（黑屏）
    if (body.dataset.blank === "1") return "blank";
    if (!current) return "";
    return current.scene + (current.key ? "/" + current.key : "");
  }

  function cacheReport() {
    if (offline.supported === false) return "none";
    if (offline.supported && offline.total > 0) return offline.cached + "/" + offline.total;
    return "";
  }

  function poll() {
    if (gone || polling) return;
    polling = true;
    var answered = false;
    var query = "?shown=" + encodeURIComponent(shownNow());
    var cache = cacheReport();
    body.dataset.cache = cache;
    if (cache) query += "&cache=" + encodeURIComponent(cache);
    if (badKeys.length) query += "&bad=" + encodeURIComponent(badKeys.join(","));
    // the version last, as before the reports were added (tools and tests read it there)
    query += "&sv=" + (content ? content.cv : "");
    request(URLS.sync + query, etag ? { "If-None-Match": etag } : {})
      .then(function (response) {
        if (response.status === 410) return goGone();
        if (response.status === 304) {
          answered = true;
          lastSyncOk = performance.now();
          return;
        }
        if (!response.ok) return;
        return response.json().then(function (answer) {
          answered = true;
          etag = response.headers.get("ETag");
          lastSyncOk = performance.now();
          applyState(answer);
        });
      })
      .catch(function () { /* a failed poll only ages the last success: the tick decides */ })
      .finally(function () {
        polling = false;
        if (answered && syncFailures) reconnected();
        syncFailures = answered ? 0 : syncFailures + 1;
        if (!gone) schedulePoll(nextPollMs());
      });
  }

  // Answered again after failures: what failed meanwhile for want of the network is tried
  // again, and so is an offline cache left incomplete.
  function reconnected() {
    skippedUntil = {};
    offline.retryAt = 0;
  }

  // The poll's pace: sync_ms while answered; after failures, doubling up to
  // BACKOFF_MAX_MS with ±20 % jitter. No error is shown: the stage plays on.
  function nextPollMs() {
    if (!syncFailures) return timing.sync_ms;
    var wait = Math.min(BACKOFF_MAX_MS, timing.sync_ms * Math.pow(2, Math.min(syncFailures, 10)));
    return wait * (0.8 + 0.4 * Math.random());
  }

  function schedulePoll(ms) {
    clearTimeout(pollTimer);
    pollTimer = setTimeout(poll, ms);
  }

  function applyState(answer) {
    var first = state === null;
    var before = state;
    state = answer;
    timing = { sync_ms: answer.sync_ms, stale_ms: answer.stale_ms, live_ms: answer.live_ms };
    if (first) {
      seenNext = answer.next;
      seenGotoSeq = answer.goto.seq;
    }
    if (!content || answer.cv !== content.cv) loadContent();
    // a hidden comment or a withdrawn approval changed the version: new figures now
    if (before && before.v !== answer.v && needsLive()) liveAt = -Infinity;
    // each command acts once, when its counter moves (never replayed on a reload)
    if (answer.next !== seenNext) {
      seenNext = answer.next;
      pendingGoto = null; // a newer command: an older goto still waiting for figures is void
      if (content && !answer.blank) advance();
    }
    if (answer.goto.seq !== seenGotoSeq) {
      seenGotoSeq = answer.goto.seq;
      pendingGoto = null;
      if (content && !answer.blank && answer.goto.scene) jumpTo(answer.goto.scene);
    }
    decide();
  }

  function loadContent() {
    if (contentLoading) return;
    contentLoading = true;
    contentTriedAt = performance.now();
    request(URLS.content)
      .then(function (response) {
        if (response.status === 410) return goGone();
        if (!response.ok) return;
        return response.json().then(function (answer) {
          var had = content !== null;
          // a new playlist version: what would not play is tried again
          if (had && answer.cv !== content.cv) forgetBad();
          content = answer;
          keepLastContent(answer);
          // while blank only the blank slide, drawn again for an edited title (start()
          // and rebuild() refuse too, whoever calls them)
          if (blanked()) drawBlank();
          else if (!had || !sceneOn(current && current.scene)) start();
          else rebuild();
        });
      })
      .catch(function () {})
      .finally(function () { contentLoading = false; });
  }

  function needsLive() {
    if (!content) return false;
    if (current && LIVE_SCENES[current.scene]) return true;
    if (state && state.pinned && state.pinned.indexOf("comment:") === 0) return true;
    if (pendingGoto) return true;
    var next = nextScene(sceneIndex, false);
    return !!(next && next.live);
  }

  function loadLive() {
    if (liveLoading || gone) return;
    liveLoading = true;
    var startedAt = (liveAt = performance.now());
    var answered = false;
    request(URLS.live)
      .then(function (response) {
        if (response.status === 410) return goGone();
        if (!response.ok) return;
        return response.json().then(function (answer) {
          live = answer;
          liveOkAt = performance.now();
          answered = true;
          var waiting = pendingGoto;
          pendingGoto = null;
          if (waiting && waiting.seq === seenGotoSeq) return jumpTo(waiting.scene);
          // only what shows figures is redrawn: a pinned video must not restart
          if (current && LIVE_SCENES[current.scene]) rebuild();
        });
      })
      .catch(function () {})
      .finally(function () {
        liveLoading = false;
        if (answered || !pendingGoto || gone) return;
        // a goto given while an older fetch was on its way gets a fetch of its own; one
        // whose own fetch failed is dropped: followed a minute later it would surprise
        // the organiser, who sees on the console that it did not happen
        if (pendingGoto.at > startedAt) loadLive();
        else pendingGoto = null;
      });
  }

  // -- Deciding what is shown -----------------------------------------------------------

  function sceneOn(name) {
    if (!content || !name) return false;
    return content.scenes.some(function (s) { return s.scene === name; });
  }

  // May this scene be shown now? Live ones only on a fresh link with current figures,
  // works only with items (guest photos count only on a fresh link).
  function allowed(scene) {
    if (scene.live && !liveAllowed()) return false;
    if (scene.scene === "works") return slidesOf(scene).length > 0;
    return true;
  }

  function nextScene(from, onlyAllowed) {
    var scenes = content.scenes;
    for (var i = 1; i <= scenes.length; i++) {
      var candidate = scenes[(from + i + scenes.length) % scenes.length];
      if (!onlyAllowed || allowed(candidate)) return candidate;
    }
    return null;
  }

  function start() {
    if (refuseWhileBlank()) return;
    sceneIndex = -1;
    current = null;
    advance();
  }

  // Move on: the next slide of this scene, else the next scene that may be shown now,
  // else the welcome (safe content is always there to fall back on).
  function advance() {
    if (!content || refuseWhileBlank()) return;
    // the next page of a live scene only while it may stay (a stale wall is left at once,
    // not paged through)
    var mayPage = current && !current.pinned && !(LIVE_SCENES[current.scene] && !liveAllowed());
    if (mayPage) {
      for (var i = current.index + 1; i < current.slides.length; i++) {
        if (slideAllowed(current.slides[i])) return show(current.scene, current.slides, i);
      }
    }
    nextSceneNow();
  }

  // The next scene that may be shown now, else the welcome, skipping what is left of
  // the current one.
  function nextSceneNow() {
    if (!content || refuseWhileBlank()) return;
    var scene = nextScene(sceneIndex, true);
    if (scene) {
      sceneIndex = content.scenes.indexOf(scene);
      return showScene(scene);
    }
    sceneIndex = -1;
    showScene({ scene: "welcome", seconds: 30, live: false });
  }

  function jumpTo(name) {
    if (!content) return;
    var index = -1;
    content.scenes.forEach(function (s, i) { if (s.scene === name) index = i; });
    if (index === -1) return;
    var scene = content.scenes[index];
    if (scene.live && fresh() && !liveCurrent()) {
      // figures missing or old (not needed lately): fetch them and go when they come,
      // rather than show old ones or refuse a command the screen can follow
      pendingGoto = { seq: seenGotoSeq, scene: name, at: performance.now() };
      loadLive();
      return;
    }
    if (!allowed(scene)) return; // a stale link never jumps to a live scene
    sceneIndex = index;
    showScene(scene);
  }

  function showScene(scene) {
    if (scene.live) loadLiveSoon();
    var slides = slidesOf(scene).filter(slideAllowed);
    if (!slides.length) slides = [{ key: "", render: renderWelcome, seconds: scene.seconds }];
    show(scene.scene, slides, 0);
  }

  function loadLiveSoon() {
    if (!live || performance.now() - liveAt >= timing.live_ms) loadLive();
  }

  function show(scene, slides, index, pinned) {
    if (refuseWhileBlank()) return;
    var slide = slides[index];
    current = {
      scene: scene,
      key: slide.key,
      slides: slides,
      index: index,
      page: slide.page || 0,
      pinned: !!pinned,
      untilEnded: !!slide.untilEnded,
      capMs: (slide.seconds || 10) * 1000,
      endsAt: performance.now() + (slide.seconds || 10) * 1000,
    };
    draw(slide);
  }

  // Re-draw the current slide from new content or figures, keeping the place.
  function rebuild() {
    if (refuseWhileBlank() || !current) return;
    if (current.pinned) return decide(true);
    var scene = content.scenes[sceneIndex];
    if (!scene || scene.scene !== current.scene) return start();
    var slides = slidesOf(scene).filter(slideAllowed);
    // nothing of it left (an emptied playlist): on to the next scene, or the welcome,
    // not through the old slides still held
    if (!slides.length) return nextSceneNow();
    var same = -1;
    slides.forEach(function (s, i) {
      if (same === -1 && s.key && s.key === current.key && (s.n || 0) === (current.slides[current.index].n || 0)) same = i;
    });
    current.slides = slides;
    if (same !== -1 && current.scene === "works") {
      // the same photo, page or video is still there: keep it playing, only re-index
      current.index = same;
      return;
    }
    var index = Math.min(current.index, slides.length - 1);
    current.index = index;
    current.key = slides[index].key;
    current.untilEnded = !!slides[index].untilEnded;
    current.capMs = (slides[index].seconds || 10) * 1000;
    draw(slides[index]);
  }

  function draw(slide) {
    if (refuseWhileBlank()) return;
    var node = null;
    try {
      node = slide.render(slide);
    } catch (e) {
      skipForNow(slide); // an item the player cannot draw is left out for a while
    }
    if (!node) return showWelcomeNow();
    stage.replaceChildren(node);
    invisibleSince = 0;
    body.dataset.scene = current.scene;
    body.dataset.item = current.key || "";
    body.dataset.blank = "0";
  }

  // The safe scene, whatever the rotation says: what the watchdog and a failed drawing
  // fall back on. Never black while there is content.
  function showWelcomeNow() {
    if (!content || refuseWhileBlank()) return;
    sceneIndex = -1;
    content.scenes.forEach(function (s, i) { if (s.scene === "welcome") sceneIndex = i; });
    var slide = { key: "", render: renderWelcome, seconds: 15 };
    current = { scene: "welcome", key: "", slides: [slide], index: 0, page: 0, pinned: false, untilEnded: false,
      capMs: 15000, endsAt: performance.now() + 15000 };
    stage.replaceChildren(renderWelcome());
    invisibleSince = 0;
    body.dataset.scene = "welcome";
    body.dataset.item = "";
    body.dataset.blank = "0";
  }

  // Whether the stage shows anything: text, a loaded image, a video with a frame or a poster.
  function stageShowsSomething() {
    var slide = stage.firstElementChild;
    if (!slide) return false;
    if ((slide.textContent || "").trim()) return true;
    return Array.prototype.some.call(stage.querySelectorAll("img, video"), function (media) {
      if (media.tagName === "IMG") return media.complete && media.naturalWidth > 0;
      return media.readyState >= 2 || !!media.poster;
    });
  }

  // Nothing on the stage for WATCHDOG_MS: the welcome goes up.
  function watchdog() {
    if (!content || blanked() || gone) return;
    if (stageShowsSomething()) {
      invisibleSince = 0;
      return;
    }
    var now = performance.now();
    if (!invisibleSince) invisibleSince = now;
    else if (now - invisibleSince >= WATCHDOG_MS) showWelcomeNow();
  }

  // A video that plays but whose time stopped moving (a stream cut off half way) is
  // skipped; a video held by pause or pin is watched the same way.
  function watchVideo() {
    var video = current && current.untilEnded ? stage.querySelector("video") : null;
    if (!video || !video.dataset.started) return;
    var now = performance.now();
    if (videoWatch.node !== video || video.currentTime !== videoWatch.time || video.paused || video.ended) {
      videoWatch = { node: video, time: video.currentTime, movedAt: now };
      return;
    }
    if (now - videoWatch.movedAt >= VIDEO_STALL_MS) {
      videoWatch.movedAt = now;
      advance();
    }
  }

  // The renderer's rules, applied on every tick and every answer.
  function decide(force) {
    if (gone) return;
    body.dataset.fresh = fresh() ? "1" : "0";
    if (!content) return;
    if (refuseWhileBlank()) return;
    if (body.dataset.blank === "1") return start();
    var pin = state && state.pinned;
    if (pin && !hidden(pin)) {
      var pinnedSlide = pinnedSlideOf(pin);
      if (pinnedSlide) {
        if (force || !current || !current.pinned || current.key !== pin) {
          show(pin.indexOf("comment:") === 0 ? "comments" : "works", [pinnedSlide], 0, true);
        }
        return;
      }
    }
    if (current && current.pinned) return advance(); // unpinned, or the pin may not stay
    if (!current) return start();
    // stale link or old figures: off the live scene now, straight to the next safe scene
    // (not through the wall's pages not yet shown, one per tick)
    if (LIVE_SCENES[current.scene] && !liveAllowed()) return nextSceneNow();
    if (!slideAllowed(current.slides[current.index])) return advance(); // hidden, or guest content gone stale
    if (current.scene === "comments" && currentShowsHidden()) return rebuild();
  }

  function currentShowsHidden() {
    return Array.prototype.some.call(stage.querySelectorAll("[data-key]"), function (node) {
      return hidden(node.dataset.key);
    });
  }

  function pinnedSlideOf(key) {
    if (key.indexOf("comment:") === 0) {
      if (!liveAllowed()) return null; // a comment is live content
      var comment = live.comments.filter(function (c) { return c.key === key; })[0];
      return comment ? { key: key, render: renderPinnedComment, comment: comment } : null;
    }
    var item = content.items.filter(function (i) { return i.key === key; })[0];
    if (!item || !guestContentAllowed(item)) return null;
    var slides = itemSlides(item, 3600).filter(playable);
    return slides.length ? slides[0] : null;
  }

  function tick() {
    if (gone) return;
    try {
      step();
    } catch (e) {
      // an error anywhere in deciding or drawing must not leave the stage stuck
      try { showWelcomeNow(); } catch (ignored) { /* the next tick tries again */ }
    }
  }

  function step() {
    var now = performance.now();
    // a content fetch that failed is tried again (at the poll's pace), not only on news;
    // a page (re)loaded while the server is unreachable asks too: the service worker
    // answers with the last good content, and the works play
    var wanted = state ? !content || content.cv !== state.cv : !content && syncFailures > 0;
    if (wanted && now - contentTriedAt >= timing.sync_ms) loadContent();
    if (content && offline.supported && !offline.filling && offline.doneCv !== content.cv && now >= offline.retryAt) {
      fillCache();
    }
    decide();
    if (!content || !current || blanked()) return;
    if (needsLive() && fresh() && now - liveAt >= timing.live_ms) loadLive();
    holdVideo();
    watchVideo();
    // time up: the slide's seconds, or for a video the cap of one that never ended
    if (!holding() && performance.now() >= current.endsAt) advance();
    watchdog();
  }

  // -- The offline cache ----------------------------------------------------------------

  function setUpOffline() {
    if (!("serviceWorker" in navigator) || !window.caches || !URLS.worker) {
      offline.supported = false; // reported as cache=none: the console says 无离线缓存
      return;
    }
    // before anything is cached: a cache of a screen whose end the worker does not know
    // would outlive its link
    noteLinkEnd(Number(body.dataset.linkExpires));
    var scope = URLS.worker.replace(/[^/]*$/, "");
    navigator.serviceWorker
      .register(URLS.worker, { scope: scope })
      .then(function () { offline.supported = true; })
      .catch(function () {
        // a page (re)loaded while the server is unreachable cannot fetch the worker's
        // script again, but the worker installed before still serves it
        return navigator.serviceWorker.getRegistration(scope).then(function (registration) {
          offline.supported = !!registration;
        });
      })
      .catch(function () { offline.supported = false; });
  }

  // The link's end (epoch ms), for the worker to delete this screen's caches past it.
  function noteLinkEnd(expires) {
    if (!(expires > 0) || !window.caches || !INDEX_URL || gone) return;
    caches.open(INDEX).then(function (index) {
      return gone ? null : index.put(INDEX_URL, new Response(String(expires)));
    }).catch(function () {});
  }

  // The last good content, for the service worker to answer /content with when the page
  // is (re)loaded while the server is unreachable ("screen-<token>-last").
  function keepLastContent(answer) {
    // while registration is pending too: the first content must be kept as well
    if (offline.supported === false || !window.caches || !CACHE_PREFIX || gone) return;
    var copy = new Response(JSON.stringify(answer), { headers: { "Content-Type": "application/json" } });
    caches.open(CACHE_PREFIX + "last").then(function (cache) {
      return gone ? null : cache.put(URLS.content, copy);
    }).catch(function () {});
  }

  function screenCaches() {
    return caches.keys().then(function (names) {
      return names.filter(function (n) { return n.indexOf(CACHE_PREFIX) === 0; });
    });
  }

  // The playlist version a cache holds, or -1 for "-last".
  function versionOf(name) {
    var v = name.slice(CACHE_PREFIX.length);
    return /^\d+$/.test(v) ? Number(v) : -1;
  }

  function clearCaches() {
    if (!window.caches || !CACHE_PREFIX) return Promise.resolve();
    return screenCaches().then(function (names) {
      return Promise.all(names.map(function (n) { return caches.delete(n); }));
    }).then(function () {
      return caches.open(INDEX).then(function (index) { return index.delete(INDEX_URL); });
    }).catch(function () {});
  }

  // The copy of an immutable address in this screen's other playlist versions' caches.
  function olderCopy(name, url) {
    return screenCaches().then(function (names) {
      return names.filter(function (n) { return n !== name && versionOf(n) >= 0; }).reduce(function (found, n) {
        return found.then(function (hit) {
          return hit || caches.open(n).then(function (older) { return older.match(url); });
        });
      }, Promise.resolve(undefined));
    });
  }

  // The network's answer into the cache; false when it is not a 200, or when it stalls
  // (no byte for FILL_IDLE_MS, FILL_VIDEO_IDLE_MS for a video).
  function fetchInto(cache, url) {
    var controller = new AbortController();
    var idleMs = FILL_IDLE_MS;
    var timer = null;
    function arm() {
      clearTimeout(timer);
      timer = setTimeout(function () { controller.abort(); }, idleMs);
    }
    arm();
    return fetch(url, { credentials: "same-origin", cache: "no-store", signal: controller.signal })
      .then(function (response) {
        if (response.status !== 200 || gone) {
          if (response.body) response.body.cancel().catch(function () {});
          return false;
        }
        if (/^video\//.test(response.headers.get("Content-Type") || "")) idleMs = FILL_VIDEO_IDLE_MS;
        arm();
        var kept = response;
        if (response.body && window.TransformStream) {
          // each chunk re-arms the timer on its way into the cache
          kept = new Response(response.body.pipeThrough(new TransformStream({
            transform: function (chunk, out) {
              arm();
              out.enqueue(chunk);
            },
          })), { status: response.status, statusText: response.statusText, headers: response.headers });
        }
        return cache.put(url, kept).then(function () { return !gone; });
      })
      .finally(function () { clearTimeout(timer); });
  }

  // One address into the cache. An immutable one (?v=: media, the versioned script and
  // style) is kept, or copied from an older version's cache of this screen (a video is not
  // fetched again because the playlist changed), or fetched. The page is always fetched:
  // never copied forward, it must be the one that goes with this version's script.
  function cacheOne(cache, name, url) {
    if (!/[?&]v=/.test(url)) return fetchInto(cache, url).catch(function () { return false; });
    return cache.match(url).then(function (hit) {
      if (hit) return true;
      return olderCopy(name, url).then(function (older) {
        if (older) return cache.put(url, older).then(function () { return true; });
        return fetchInto(cache, url);
      });
    }).catch(function () { return false; });
  }

  // Of this screen's playlist versions' caches, keep `keep` and the newest other one: a
  // fill that never completes (a file that always fails) must not leave a cache behind
  // at each playlist change.
  function pruneVersions(keep) {
    return screenCaches().then(function (names) {
      var older = names.filter(function (n) { return versionOf(n) >= 0 && n !== keep; });
      older.sort(function (a, b) { return versionOf(b) - versionOf(a); });
      return Promise.all(older.slice(1).map(function (n) { return caches.delete(n); }));
    });
  }

  // Complete: the other versions go, and what this one held that the manifest no longer
  // lists (a previous script version).
  function keepOnly(cache, name, urls) {
    var wanted = {};
    urls.forEach(function (u) { wanted[new URL(u, location.href).href] = true; });
    return screenCaches().then(function (names) {
      return Promise.all(names.filter(function (n) { return n !== name && versionOf(n) >= 0; }).map(function (n) {
        return caches.delete(n);
      }));
    }).then(function () {
      return cache.keys();
    }).then(function (requests) {
      return Promise.all(requests.filter(function (r) { return !wanted[r.url]; }).map(function (r) {
        return cache.delete(r);
      }));
    });
  }

  // Fill "screen-<token>-<cv>" from the manifest, one address at a time (a venue's
  // network is shared); once complete, older versions are deleted.
  function fillCache() {
    offline.filling = true;
    offline.retryAt = performance.now() + CACHE_RETRY_MS;
    request(URLS.manifest)
      .then(function (response) {
        if (response.status === 410) return goGone();
        if (!response.ok) return;
        return response.json().then(function (manifest) {
          var name = CACHE_PREFIX + manifest.cv;
          noteLinkEnd(manifest.expires);
          return pruneVersions(name).then(function () {
            return caches.open(name);
          }).then(function (cache) {
            offline.total = manifest.urls.length;
            offline.cached = 0;
            return manifest.urls.reduce(function (done, url) {
              return done.then(function () {
                if (gone) return;
                return cacheOne(cache, name, url).then(function (ok) { if (ok) offline.cached += 1; });
              });
            }, Promise.resolve()).then(function () {
              if (gone) return clearCaches();
              if (offline.cached < offline.total) return;
              offline.doneCv = manifest.cv;
              return keepOnly(cache, name, manifest.urls);
            });
          });
        });
      })
      .catch(function () { /* tried again after CACHE_RETRY_MS */ })
      .finally(function () {
        offline.filling = false;
        body.dataset.cache = cacheReport();
      });
  }

  // Paused or pinned, the slide stays; a video then too (it loops, see holdVideo).
  function holding() {
    return !!(current && (current.pinned || (state && state.paused)));
  }

  // A held video loops rather than ends, and its cap (which only guards against a video
  // that never ends) runs again from now: it neither drops for a tick and restarts when
  // pinned, nor is cut the moment the screen resumes after a long pause.
  function holdVideo() {
    if (!current || !current.untilEnded) return;
    var hold = holding();
    var video = stage.querySelector("video");
    if (video && video.loop !== hold) video.loop = hold;
    if (hold) current.endsAt = performance.now() + current.capMs;
  }

  function drawBlank() {
    current = null;
    sceneIndex = -1;
    var slide = el("div", "slide blank");
    slide.appendChild(el("h1", "blank-title", content.event.title));
    stage.replaceChildren(slide);
    body.dataset.scene = "blank";
    body.dataset.item = "";
    body.dataset.blank = "1";
  }

  // A dead link: everything of the event leaves the page, and the player stops.
  function goGone() {
    gone = true;
    timers.forEach(clearTimeout);
    clearTimeout(pollTimer);
    clearInterval(tickTimer);
    clearCaches(); // nothing of the event stays on the machine either
    state = content = live = current = null;
    Array.prototype.forEach.call(document.querySelectorAll("video"), function (v) {
      v.pause();
      v.removeAttribute("src");
      v.load();
    });
    var slide = el("div", "slide gone");
    slide.appendChild(el("p", "gone-title", t("gone")));
    slide.appendChild(el("p", "gone-hint", t("gone_hint")));
    stage.replaceChildren(slide);
    body.dataset.scene = "gone";
    body.dataset.item = "";
    body.dataset.blank = "0";
    body.dataset.fresh = "0";
    document.title = t("gone");
  }

  // -- Slides of each scene -------------------------------------------------------------

  function slidesOf(scene) {
    var seconds = scene.seconds;
    if (scene.scene === "welcome") return [{ key: "", render: renderWelcome, seconds: seconds }];
    if (scene.scene === "checkin") return [{ key: "", render: renderCheckin, seconds: seconds }];
    if (scene.scene === "ratings") return [{ key: "", render: renderRatings, seconds: seconds }];
    if (scene.scene === "comments") {
      var comments = visibleComments();
      var pages = Math.max(1, Math.ceil(comments.length / COMMENTS_PER_SLIDE));
      var each = Math.max(5, seconds / pages);
      var out = [];
      for (var p = 0; p < pages; p++) out.push({ key: "", render: renderComments, seconds: each, page: p });
      return out;
    }
    if (scene.scene === "works") {
      var all = [];
      content.items.forEach(function (item) {
        if (!hidden(item.key) && guestContentAllowed(item)) all = all.concat(itemSlides(item, seconds).filter(playable));
      });
      return all;
    }
    return [];
  }

  // One playlist item as slides: each photo of a work, each page of a text, one video.
  function itemSlides(item, seconds) {
    if (item.kind === "photos") {
      return item.photos.map(function (photo, i) {
        return { key: item.key, item: item, photo: photo, n: i, render: renderPhoto, seconds: seconds };
      });
    }
    if (item.kind === "video") {
      // until it ends; the cap keeps a video that never ends from holding the screen
      return [{ key: item.key, item: item, render: renderVideo, untilEnded: true,
        seconds: (item.duration || seconds) + 10 }];
    }
    if (item.kind === "guest_photo") {
      return [{ key: item.key, item: item, render: renderGuestPhoto, seconds: seconds }];
    }
    var pages = textPages(item.body || item.summary || "");
    return pages.map(function (text, i) {
      return { key: item.key, item: item, text: text, n: i, pages: pages.length, render: renderText, seconds: seconds };
    });
  }

  // Pages of about TEXT_PAGE_CHARS characters, cut between paragraphs where one fits.
  function textPages(text) {
    var pages = [];
    var page = "";
    text.split(/\n+/).map(function (p) { return p.trim(); }).filter(Boolean).forEach(function (para) {
      while (para.length) {
        var room = TEXT_PAGE_CHARS - page.length;
        if (para.length <= room) {
          page += (page ? "\n" : "") + para;
          para = "";
        } else if (page && room < TEXT_PAGE_CHARS / 3) {
          pages.push(page);
          page = "";
        } else {
          page += (page ? "\n" : "") + para.slice(0, room);
          para = para.slice(room);
          pages.push(page);
          page = "";
        }
      }
    });
    if (page) pages.push(page);
    return pages.length ? pages : [""];
  }

  function visibleComments() {
    if (!live) return [];
    return live.comments.filter(function (c) { return !hidden(c.key); });
  }

  // -- Drawing --------------------------------------------------------------------------

  function header(title, subtitle) {
    var head = el("header", "slide-head");
    head.appendChild(el("h1", "", title));
    if (subtitle) head.appendChild(el("p", "slide-sub", subtitle));
    return head;
  }

  function renderWelcome() {
    var e = content.event;
    var slide = el("div", "slide welcome");
    slide.appendChild(el("h1", "welcome-title", e.title));
    var facts = el("dl", "facts");
    [["service", e.service], ["certified_org", e.certified_org], ["host_unit", e.host_unit],
      ["time", e.time], ["venue", e.venue]].forEach(function (pair) {
      if (!pair[1]) return;
      facts.appendChild(el("dt", "", t(pair[0])));
      facts.appendChild(el("dd", "", pair[1]));
    });
    slide.appendChild(facts);
    return slide;
  }

  function renderCheckin() {
    var slide = el("div", "slide checkin");
    slide.appendChild(header(content.event.title, T.checked_in));
    var figures = live || { checked_in: 0, expected: 0, categories: [] };
    var total = el("div", "total");
    total.appendChild(el("span", "total-count", figures.checked_in));
    if (figures.expected) total.appendChild(el("span", "total-expected", t("of_expected", { n: figures.expected })));
    slide.appendChild(total);
    var bars = el("div", "bars");
    figures.categories.forEach(function (c) {
      bars.appendChild(bar(c.label, c.checked_in, Math.max(c.expected, c.checked_in, 1),
        c.checked_in + (c.expected ? " / " + c.expected : "")));
    });
    slide.appendChild(bars);
    return slide;
  }

  function bar(label, value, max, text) {
    var row = el("div", "bar-row");
    row.appendChild(el("span", "bar-label", label));
    var track = el("span", "bar-track");
    var fill = el("span", "bar-fill");
    fill.style.width = Math.min(100, (100 * value) / max) + "%";
    track.appendChild(fill);
    row.appendChild(track);
    row.appendChild(el("span", "bar-value", text));
    return row;
  }

  function renderComments(slide) {
    var node = el("div", "slide comments");
    node.appendChild(header(T.comments));
    var comments = visibleComments();
    var pageOf = comments.slice(slide.page * COMMENTS_PER_SLIDE, (slide.page + 1) * COMMENTS_PER_SLIDE);
    if (!pageOf.length) {
      node.appendChild(el("p", "empty", T.no_comments));
      return node;
    }
    var wall = el("ul", "wall");
    pageOf.forEach(function (c) { wall.appendChild(commentCard(c)); });
    node.appendChild(wall);
    return node;
  }

  function commentCard(c) {
    var card = el("li", "comment");
    card.dataset.key = c.key;
    card.appendChild(el("p", "comment-text", "“" + c.text + "”"));
    if (c.name) card.appendChild(el("p", "comment-name", "—— " + c.name));
    return card;
  }

  // characters a pinned comment may have at each type size (screen.css: .comment.big),
  // a line to spare: Chinese lines never start with "，。”", so a break may cost one
  var PINNED_LONG = 110, PINNED_LONGER = 260;

  function renderPinnedComment(slide) {
    var node = el("div", "slide comments pinned");
    node.appendChild(header(T.comments));
    var card = commentCard(slide.comment);
    card.classList.add("big");
    // the one comment the room should read: whole, in smaller type the longer it is
    // (500 characters fit at the wall's size); the wall's cards keep two lines each
    var length = slide.comment.text.length;
    var size = length > PINNED_LONGER ? "longer" : length > PINNED_LONG ? "long" : "";
    if (size) card.classList.add(size);
    var wall = el("ul", "wall one" + (size ? " long" : "")); // (a class, not :has(): older TVs)
    wall.appendChild(card);
    node.appendChild(wall);
    return node;
  }

  function renderRatings() {
    var slide = el("div", "slide ratings");
    var figures = live || { ratings: [], responses: 0 };
    slide.appendChild(header(T.ratings, t("responses", { n: figures.responses })));
    var bars = el("div", "bars");
    figures.ratings.forEach(function (r) {
      var row = bar(r.name, r.average || 0, 5, r.average === null ? "—" : r.average.toFixed(2));
      var stars = el("span", "stars", "★★★★★");
      stars.style.setProperty("--filled", ((r.average || 0) / 5) * 100 + "%");
      row.insertBefore(stars, row.lastChild);
      row.appendChild(el("span", "bar-count", t("answers", { n: r.count })));
      bars.appendChild(row);
    });
    slide.appendChild(bars);
    return slide;
  }

  function workHead(item) {
    return header(item.title, [item.category, item.unit].filter(Boolean).join(" · "));
  }

  function renderPhoto(slide) {
    var node = el("div", "slide work photo");
    node.appendChild(workHead(slide.item));
    var img = el("img", "media");
    img.addEventListener("error", failedImage(slide, slide.photo.url));
    img.src = slide.photo.url;
    img.alt = slide.photo.caption || slide.item.title;
    node.appendChild(img);
    if (slide.photo.caption) node.appendChild(el("p", "caption", slide.photo.caption));
    return node;
  }

  function renderVideo(slide) {
    var node = el("div", "slide work video");
    node.appendChild(workHead(slide.item));
    var video = el("video", "media");
    // muted + playsinline: what lets a browser autoplay without a tap
    video.muted = true;
    video.defaultMuted = true;
    video.setAttribute("muted", "");
    video.setAttribute("playsinline", "");
    video.autoplay = true;
    if (slide.item.poster) video.poster = slide.item.poster;
    video.src = slide.item.url;
    video.loop = holding();
    video.addEventListener("ended", function () {
      if (!current || current.key !== slide.key) return;
      if (holding()) {
        // held between two ticks (loop not set yet): play again rather than move on
        video.currentTime = 0;
        video.play().catch(function () {});
        return;
      }
      advance();
    });
    // a video that has not started within VIDEO_START_MS is skipped for now (a slow network
    // is no fault of the file); one that errors is reported when its file is damaged: a
    // decode or unsupported-source error (MediaError 3, 4) on bytes that do arrive. The
    // stage never waits on it for good.
    var startTimer = setTimeout(function () {
      if (video.isConnected && !video.dataset.started) skipFailed(slide, false);
    }, VIDEO_START_MS);
    video.addEventListener("playing", function () {
      video.dataset.started = "1";
      clearTimeout(startTimer);
    });
    video.addEventListener("error", function () {
      clearTimeout(startTimer);
      var code = video.error ? video.error.code : 0;
      if (code !== 3 && code !== 4) return skipFailed(slide, false);
      arrives(slide.item.url).then(function (ok) { skipFailed(slide, ok); });
    });
    node.appendChild(video);
    return node;
  }

  function renderGuestPhoto(slide) {
    var node = el("div", "slide work guest-photo");
    var img = el("img", "media");
    img.addEventListener("error", failedImage(slide, slide.item.url));
    img.src = slide.item.url;
    img.alt = slide.item.caption || "";
    node.appendChild(img);
    if (slide.item.caption) node.appendChild(el("p", "caption", slide.item.caption));
    return node;
  }

  function renderText(slide) {
    var node = el("div", "slide work text");
    node.appendChild(workHead(slide.item));
    var page = el("div", "text-page");
    slide.text.split("\n").forEach(function (para) { page.appendChild(el("p", "", para)); });
    node.appendChild(page);
    if (slide.pages > 1) node.appendChild(el("p", "page-no", t("page", { page: slide.n + 1, pages: slide.pages })));
    return node;
  }

  // -- Start ----------------------------------------------------------------------------

  fit();
  window.addEventListener("resize", fit);
  var loading = el("div", "slide loading");
  loading.appendChild(el("p", "", T.loading));
  stage.replaceChildren(loading);
  var tickTimer = setInterval(tick, 250);
  body.dataset.cache = "";
  body.dataset.bad = "";
  setUpOffline();
  // back on the network: ask at once rather than at the end of a long back-off
  window.addEventListener("online", function () {
    if (gone) return;
    skippedUntil = {};
    if (syncFailures) schedulePoll(0);
  });
  poll();
})();
