/* The screens' service worker (served as /s/sw.js, scope /s/): what keeps a venue's screen
 * playing when the Wi-Fi drops or the server restarts.
 *
 * The page (screen.js) fills one Cache Storage cache per screen and playlist version,
 * "screen-<token>-<cv>", from /s/<token>/manifest; this worker only answers from it:
 * - media (a work's photo, video or poster, a guest's photo: addresses with ?v=, the same
 *   bytes for ever): cache first, the network for what is not cached. A video element asks
 *   for ranges; a cached whole file answers them with 206 and the asked bytes.
 * - the page, screen.js and screen.css: the network first (a new version reaches the
 *   screen at its next load), the cache when the network fails or hangs.
 * - /content: the network first, else the last good answer the page kept in
 *   "screen-<token>-last", so a page reloaded while the server is unreachable still
 *   plays the works.
 * - /sync, /live, /manifest: never from a cache. A stored answer would pass for a live
 *   link, and the page's fail-safe (live scenes only while its last sync is fresh) needs
 *   to see the failures.
 * Any 410 (a revoked or expired link) deletes every "screen-<token>-*" cache.
 */
"use strict";

// /s/<token>[/what]: the screen's own addresses
var SCREEN = /^\/s\/([A-Za-z0-9_-]{16,32})(?:\/(content|sync|live|manifest|photos\/\d+))?$/;
// the page's own files, from /static/
var SHELL = /\/static\/displays\/screen\.(js|css)$/;
// past this the network is treated as gone and the cache answers (a hanging Wi-Fi, not
// only a refused connection); under screen.js's own request timeout (5 s)
var NETWORK_WAIT_MS = 4000;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  // the page that registered the worker is served by it at once, not after a reload
  event.waitUntil(self.clients.claim());
});

function forget(token) {
  var prefix = "screen-" + token + "-";
  return caches.keys().then(function (names) {
    return Promise.all(names.filter(function (n) { return n.indexOf(prefix) === 0; }).map(function (n) {
      return caches.delete(n);
    }));
  });
}

// The answer from the network; a 410 also clears the screen's caches.
function network(request, token) {
  return fetch(request).then(function (response) {
    if (response.status === 410 && token) return forget(token).then(function () { return response; });
    return response;
  });
}

function cachedForScreen(url, token) {
  var prefix = "screen-" + token + "-";
  return caches.keys().then(function (names) {
    var mine = names.filter(function (n) { return n.indexOf(prefix) === 0; }).reverse(); // newest first
    return mine.reduce(function (found, name) {
      return found.then(function (hit) {
        return hit || caches.open(name).then(function (cache) { return cache.match(url); });
      });
    }, Promise.resolve(undefined));
  });
}

// The network's answer, or the cache's when the network fails or takes too long.
function networkFirst(request, token, fromCache) {
  return new Promise(function (resolve) {
    var settled = false;
    function settle(response) {
      if (settled || !response) return false;
      settled = true;
      resolve(response);
      return true;
    }
    var timer = setTimeout(function () {
      fromCache().then(settle).catch(function () {});
    }, NETWORK_WAIT_MS);
    network(request, token).then(
      function (response) {
        clearTimeout(timer);
        settle(response);
      },
      function () {
        clearTimeout(timer);
        fromCache().then(function (hit) { settle(hit || Response.error()); }, function () { settle(Response.error()); });
      }
    );
  });
}

// A cached whole file answers a Range request with the asked bytes.
function ranged(hit, request) {
  var range = request.headers.get("Range");
  var asked = range && /^bytes=(\d*)-(\d*)$/.exec(range.trim());
  if (!asked || (asked[1] === "" && asked[2] === "")) return hit;
  return hit.blob().then(function (blob) {
    var size = blob.size;
    var start;
    var end;
    if (asked[1] === "") {
      start = Math.max(0, size - Number(asked[2]));
      end = size - 1;
    } else {
      start = Number(asked[1]);
      end = asked[2] === "" ? size - 1 : Math.min(Number(asked[2]), size - 1);
    }
    if (start >= size || start > end) {
      return new Response("", { status: 416, headers: { "Content-Range": "bytes */" + size } });
    }
    return new Response(blob.slice(start, end + 1), {
      status: 206,
      statusText: "Partial Content",
      headers: {
        "Content-Type": hit.headers.get("Content-Type") || blob.type,
        "Content-Range": "bytes " + start + "-" + end + "/" + size,
        "Content-Length": String(end - start + 1),
        "Accept-Ranges": "bytes",
      },
    });
  });
}

function cacheFirst(request, token) {
  return caches.match(request.url).then(function (hit) {
    if (hit) return ranged(hit, request);
    return network(request, token);
  });
}

self.addEventListener("fetch", function (event) {
  var request = event.request;
  if (request.method !== "GET") return;
  var url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  var screen = SCREEN.exec(url.pathname);
  if (screen) {
    var token = screen[1];
    var what = screen[2] || "page";
    if (what === "sync" || what === "live" || what === "manifest") return; // the network's answer, always
    if (what === "content") {
      event.respondWith(
        networkFirst(request, token, function () {
          return caches.open("screen-" + token + "-last").then(function (cache) { return cache.match(url.pathname); });
        })
      );
      return;
    }
    if (what === "page") {
      event.respondWith(networkFirst(request, token, function () { return cachedForScreen(url.pathname, token); }));
      return;
    }
    event.respondWith(cacheFirst(request, token)); // a guest's photo
    return;
  }
  if (SHELL.test(url.pathname)) {
    event.respondWith(networkFirst(request, null, function () { return caches.match(request.url); }));
    return;
  }
  event.respondWith(cacheFirst(request, null));
});
