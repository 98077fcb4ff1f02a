// What the server offers, read from its OpenAPI schema, and what this browser can do.
// Endpoints that other work adds later (signatures, push) are used only once listed.

let schema = null;
let loadedAt = 0;
const TTL_MS = 5 * 60 * 1000;

async function openapi() {
  if (schema && Date.now() - loadedAt < TTL_MS) return schema;
  try {
    const resp = await fetch('/schema/openapi.json', { credentials: 'same-origin' });
    if (resp.ok) {
      schema = await resp.json();
      loadedAt = Date.now();
    }
  } catch {
    /* offline: keep what we had */
  }
  return schema;
}

export async function hasEndpoint(method, path) {
  const doc = await openapi();
  return Boolean(doc?.paths?.[path]?.[method.toLowerCase()]);
}

export async function endpoints(prefix) {
  const doc = await openapi();
  return Object.keys(doc?.paths || {}).filter((p) => p.startsWith(prefix));
}

export const browser = {
  serviceWorker: 'serviceWorker' in navigator,
  push: 'serviceWorker' in navigator && 'PushManager' in window && 'Notification' in window,
  geolocation: 'geolocation' in navigator,
  indexedDB: 'indexedDB' in window,
  canvas: Boolean(document.createElement('canvas').getContext),
  pointerEvents: 'PointerEvent' in window,
  vibrate: 'vibrate' in navigator,
  share: 'share' in navigator,
};
