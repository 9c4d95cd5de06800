/* The screens' service worker (served as /s/sw.js, scope /s/): what keeps a venue's screen
 * playing when the Wi-Fi drops or the server restarts.
 *
 * The page (screen.js) fills one Cache Storage cache per screen and playlist version,
 * "screen-<token>-<cv>", from /s/<token>/manifest; this worker only answers from it:
 * - media (a work's photo, video or poster, a guest's photo: addresses with ?v=, the same
 *   bytes for ever): cache first, the network for what is not cached. A video element asks
 *   for ranges; a cached whole file answers them with 206 and the asked bytes.
 * - the page, screen.js and screen.css: the network first (a new version reaches the
 *   screen at its next load), this screen's own caches when the network fails, hangs or
 *   answers with a server error (nginx's 502/504 while the app restarts, a 429).
 * - /content: the network first, else the last good answer the page kept in
 *   "screen-<token>-last", so a page reloaded while the server is unreachable still
 *   plays the works.
 * - /sync, /live, /manifest: never from a cache. A stored answer would pass for a live
 *   link, and the page's fail-safe (live scenes only while its last sync is fresh) needs
 *   to see the failures.
 * Any 410 (a revoked or expired link) deletes every "screen-<token>-*" cache. A venue PC
 * switched off past the link's end never hears that 410, so the page also notes each
 * screen's link end in the "screens-index" cache, and the worker deletes the caches of
 * every screen past its end when it activates and whenever a screen's page loads (before
 * answering it: an expired link's page is never played from the cache).
 */
"use strict";

// /s/<token>[/what]: the screen's own addresses
var SCREEN = /^\/s\/([A-Za-z0-9_-]{16,32})(?:\/(content|sync|live|manifest|photos\/\d+))?$/;
// the page's own files, from /static/
var SHELL = /\/static\/displays\/screen\.(js|css)$/;
// past this the network is treated as gone and the cache answers (a hanging Wi-Fi, not
// only a refused connection); under screen.js's own request timeout (5 s)
var NETWORK_WAIT_MS = 4000;
// each screen's link end: key /s/<token>/expires, body epoch milliseconds (screen.js writes it)
var INDEX = "screens-index";
var INDEX_KEY = /^\/s\/([A-Za-z0-9_-]{16,32})\/expires$/;

self.addEventListener("install", function () {
  self.skipWaiting();
});

self.addEventListener("activate", function (event) {
  // the page that registered the worker is served by it at once, not after a reload
  event.waitUntil(Promise.all([self.clients.claim(), sweep()]));
});

function screenCacheNames(token) {
  var prefix = "screen-" + token + "-";
  return caches.keys().then(function (names) {
    return names.filter(function (n) { return n.indexOf(prefix) === 0; });
  });
}

function forget(token) {
  return screenCacheNames(token).then(function (names) {
    return Promise.all(names.map(function (n) { return caches.delete(n); }));
  }).then(function () {
    return caches.open(INDEX).then(function (index) { return index.delete("/s/" + token + "/expires"); });
  });
}

// Delete the caches of every screen whose link has ended (by this machine's clock).
function sweep() {
  return caches.open(INDEX).then(function (index) {
    return index.keys().then(function (requests) {
      return Promise.all(requests.map(function (entry) {
        var token = (INDEX_KEY.exec(new URL(entry.url).pathname) || [])[1];
        if (!token) return index.delete(entry);
        return index.match(entry).then(function (answer) { return answer ? answer.text() : ""; }).then(function (text) {
          var expires = Number(text);
          if (expires > 0 && expires > Date.now()) return;
          return forget(token);
        });
      }));
    });
  }).catch(function () { /* a sweep that failed runs again at the next page load */ });
}

// The answer from the network; a 410 also clears the screen's caches.
function network(request, token) {
  return fetch(request).then(function (response) {
    if (response.status === 410 && token) return forget(token).then(function () { return response; });
    return response;
  });
}

// This screen's caches, the newest playlist version first, "-last" after them.
function cachedForScreen(url, token) {
  var prefix = "screen-" + token + "-";
  return screenCacheNames(token).then(function (names) {
    function version(n) {
      var v = n.slice(prefix.length);
      return /^\d+$/.test(v) ? Number(v) : -1;
    }
    names.sort(function (a, b) { return version(b) - version(a); });
    return names.reduce(function (found, name) {
      return found.then(function (hit) {
        return hit || caches.open(name).then(function (cache) { return cache.match(url); });
      });
    }, Promise.resolve(undefined));
  });
}

// What the server says when it is there but cannot answer: nginx's 502/504 while the app
// restarts, a 503, a spent failure budget (429). With a cached copy at hand, that copy.
function serverFailed(response) {
  return response.status >= 500 || response.status === 429;
}

// The network's answer, or the cache's when the network fails, takes too long or answers
// with a server error.
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
        if (!serverFailed(response)) return settle(response);
        fromCache().then(function (hit) { settle(hit || response); }, function () { settle(response); });
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

// The screen whose page made this request (a shell file carries no token of its own).
function screenOfClient(clientId) {
  if (!clientId) return Promise.resolve(null);
  return self.clients.get(clientId).then(function (client) {
    var match = client && SCREEN.exec(new URL(client.url).pathname);
    return match ? match[1] : null;
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
      // the page filling its cache asks for the network's copy, never an older cached one
      if (request.mode !== "navigate") return;
      // expired screens' caches go first: this very link's too, if it has ended
      event.respondWith(sweep().then(function () {
        return networkFirst(request, token, function () { return cachedForScreen(url.pathname, token); });
      }));
      return;
    }
    event.respondWith(cacheFirst(request, token)); // a guest's photo
    return;
  }
  if (SHELL.test(url.pathname)) {
    event.respondWith(networkFirst(request, null, function () {
      return screenOfClient(event.clientId).then(function (owner) {
        return owner ? cachedForScreen(request.url, owner) : undefined;
      });
    }));
    return;
  }
  // only the immutable media are answered from a cache; anything else is the network's
  if (url.searchParams.has("v")) event.respondWith(cacheFirst(request, null));
});
