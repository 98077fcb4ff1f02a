/* Naryad service worker.
 * - The app shell is cached at install and served from the cache (refreshed in the
 *   background), so the app opens without a connection.
 * - GET /api/... is network-first with the cache as fallback, so the last lists and the
 *   tasks opened are there offline. A slow network falls back to the cached copy.
 * - Nothing but GET is touched: changes go through the page's outbox (IndexedDB).
 */

// Bumped when shell files change in a way old pages must not mix with (v2: photo uploads,
// v3: buttons from the server's `actions`, no copy of the state machine, v4: feed,
// specification, the page's own offline copy of the lists, v5: the client portal and the
// knowledge base; the dispatch map's styles and Leaflet, the rating page's style).
const VERSION = 'v6';
const SHELL_CACHE = `naryad-shell-${VERSION}`;
const API_CACHE = 'naryad-api';
const API_CACHE_MAX = 300;
const NETWORK_TIMEOUT_MS = 8000;

const SHELL = [
  '/',
  '/index.html',
  '/manifest.webmanifest',
  '/css/app.css',
  '/css/dispatch.css',
  '/css/rate.css',
  '/icons/icon-192.png',
  '/icons/icon-512.png',
  '/i18n/ru.json',
  '/i18n/en.json',
  '/js/api.js',
  '/js/cache.js',
  '/js/devmail.js',
  '/js/dispatch.js',
  '/js/feed.js',
  '/js/icons.js',
  '/js/missing.js',
  '/js/spec.js',
  '/js/taskextra.js',
  '/js/app.js',
  '/js/create.js',
  '/js/dashboard.js',
  '/js/dom.js',
  '/js/features.js',
  '/js/i18n.js',
  '/js/idb.js',
  '/js/lists.js',
  '/js/login.js',
  '/js/outbox.js',
  '/js/outbox-view.js',
  '/js/photos.js',
  '/js/profile.js',
  '/js/push.js',
  '/js/session.js',
  '/js/signature.js',
  '/js/storage.js',
  '/js/task.js',
  '/js/taskwork.js',
  '/js/service.js',
  '/js/ui.js',
  '/js/workflow.js',
  '/js/portal.js',
  '/js/kb.js',
  '/vendor/leaflet/leaflet.css',
  '/vendor/leaflet/leaflet-src.esm.js',
  '/vendor/leaflet/images/layers.png',
  '/vendor/leaflet/images/layers-2x.png',
  '/vendor/leaflet/images/marker-icon.png',
  '/vendor/leaflet/images/marker-icon-2x.png',
  '/vendor/leaflet/images/marker-shadow.png',
];

self.addEventListener('install', (event) => {
  event.waitUntil(
    caches.open(SHELL_CACHE)
      .then((cache) => cache.addAll(SHELL.map((url) => new Request(url, { cache: 'reload' }))))
      .then(() => self.skipWaiting()),
  );
});

self.addEventListener('activate', (event) => {
  event.waitUntil(
    caches.keys()
      .then((names) => Promise.all(
        names.filter((n) => n.startsWith('naryad-shell-') && n !== SHELL_CACHE).map((n) => caches.delete(n)),
      ))
      .then(() => self.clients.claim()),
  );
});

function offlineResponse() {
  const body = JSON.stringify({
    status_code: 503,
    detail: 'Offline, and this was not opened before on this device',
    extra: { offline: true },
  });
  return new Response(body, { status: 503, headers: { 'Content-Type': 'application/json' } });
}

async function remember(request, response) {
  // Stamp the copy so the page can say "offline copy from 10:42".
  const headers = new Headers(response.headers);
  headers.set('X-Naryad-Cached-At', new Date().toISOString());
  const copy = new Response(await response.clone().blob(), { status: response.status, statusText: response.statusText, headers });
  const cache = await caches.open(API_CACHE);
  await cache.put(request, copy);
  const keys = await cache.keys();
  for (const old of keys.slice(0, Math.max(0, keys.length - API_CACHE_MAX))) await cache.delete(old);
}

async function networkFirst(event) {
  const { request } = event;
  const network = fetch(request).then(async (response) => {
    if (response.ok) event.waitUntil(remember(request, response.clone()));
    return response;
  });
  network.catch(() => {}); // handled below; this only silences the unawaited copy
  const cached = caches.match(request, { cacheName: API_CACHE });
  let timer;
  const slow = new Promise((resolve) => {
    timer = setTimeout(() => resolve('slow'), NETWORK_TIMEOUT_MS);
  });
  try {
    const first = await Promise.race([network, slow]);
    if (first !== 'slow') return first;
    const copy = await cached;
    return copy || await network;
  } catch {
    return (await cached) || offlineResponse();
  } finally {
    clearTimeout(timer);
  }
}

async function shellFirst(event, key) {
  const cache = await caches.open(SHELL_CACHE);
  const cached = await cache.match(key, { ignoreSearch: true });
  const refresh = fetch(event.request)
    .then((response) => {
      if (response.ok && response.type === 'basic') return cache.put(key, response.clone()).then(() => response);
      return response;
    });
  if (cached) {
    event.waitUntil(refresh.catch(() => {}));
    return cached;
  }
  try {
    return await refresh;
  } catch {
    return new Response('Offline', { status: 503, headers: { 'Content-Type': 'text/plain' } });
  }
}

self.addEventListener('fetch', (event) => {
  const { request } = event;
  if (request.method !== 'GET') return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (url.pathname.startsWith('/api/')) {
    event.respondWith(networkFirst(event));
  } else if (url.pathname === '/schema/openapi.json') {
    event.respondWith(networkFirst(event));
  } else if (url.pathname.startsWith('/schema') || url.pathname.startsWith('/rate/')) {
    // API docs and the server's own pages (the rating links of the e-mail): always from
    // the network; the app shell must not answer for them.
  } else if (request.mode === 'navigate') {
    event.respondWith(shellFirst(event, '/'));
  } else {
    event.respondWith(shellFirst(event, url.pathname));
  }
});

// Web Push (used once the server sends notifications).
self.addEventListener('push', (event) => {
  let data = {};
  try {
    data = event.data ? event.data.json() : {};
  } catch {
    data = { body: event.data ? event.data.text() : '' };
  }
  event.waitUntil(self.registration.showNotification(data.title || 'Наряд', {
    body: data.body || '',
    icon: '/icons/icon-192.png',
    badge: '/icons/icon-192.png',
    tag: data.tag,
    data: { url: data.url || (data.task_id ? `/#/task/${data.task_id}` : '/') },
  }));
});

self.addEventListener('notificationclick', (event) => {
  event.notification.close();
  const target = event.notification.data?.url || '/';
  event.waitUntil((async () => {
    const windows = await self.clients.matchAll({ type: 'window', includeUncontrolled: true });
    for (const client of windows) {
      if ('focus' in client) {
        await client.focus();
        if ('navigate' in client) return client.navigate(target);
        return undefined;
      }
    }
    return self.clients.openWindow(target);
  })());
});
