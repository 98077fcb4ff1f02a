// The HTTP client. The session cookie set by /api/auth/login authenticates every call
// (same origin), so no token is kept in page storage.

import { cacheable, recall, remember } from './cache.js';
import { language } from './i18n.js';

export class ApiError extends Error {
  constructor(status, detail, extra) {
    super(detail);
    this.status = status;
    this.detail = detail;
    this.extra = extra ?? null;
  }

  /** Worth retrying later: the server or the network, not the request, was the problem. */
  get transient() {
    return this.status >= 500 || this.status === 408 || this.status === 429;
  }
}

/** No connection (fetch failed) or the service worker had no offline copy. */
export class OfflineError extends Error {}

const listeners = { unauthorized: new Set() };

export function onUnauthorized(fn) {
  listeners.unauthorized.add(fn);
}

export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID();
  const bytes = new Uint8Array(16);
  if (globalThis.crypto?.getRandomValues) crypto.getRandomValues(bytes);
  else for (let i = 0; i < bytes.length; i += 1) bytes[i] = Math.floor(Math.random() * 256);
  return Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('');
}

/**
 * One request. Returns {data, status, cachedAt, replayed}; throws ApiError or OfflineError.
 * `idempotencyKey` and `ifMatch` map to the headers the server honours on every change.
 */
export async function request(path, { method = 'GET', body, idempotencyKey, ifMatch, signal } = {}) {
  // Errors come back in the language the person reads the app in (server/lib/i18n.py).
  const headers = { Accept: 'application/json', 'Accept-Language': language() };
  const init = { method, headers, credentials: 'same-origin', signal };
  if (body !== undefined) {
    headers['Content-Type'] = 'application/json';
    init.body = JSON.stringify(body);
  }
  if (idempotencyKey) headers['Idempotency-Key'] = idempotencyKey;
  if (ifMatch !== undefined && ifMatch !== null) headers['If-Match'] = String(ifMatch);
  const keep = method === 'GET' && cacheable(path);
  // Offline: the page's own copy (cache.js) when the service worker had none.
  const fromCopy = async (err) => {
    const copy = keep ? await recall(path) : null;
    if (copy) return { data: copy.data, status: 200, cachedAt: copy.at, replayed: false };
    throw err;
  };
  let resp;
  try {
    resp = await fetch(path, init);
  } catch (err) {
    if (err?.name === 'AbortError') throw err;
    return fromCopy(new OfflineError(err?.message || 'network error'));
  }
  const type = resp.headers.get('content-type') || '';
  const data = resp.status === 204 || !type.includes('json') ? null : await resp.json().catch(() => null);
  if (!resp.ok) {
    if (resp.status === 503 && data?.extra?.offline) return fromCopy(new OfflineError(data.detail));
    if (resp.status === 401 && !path.startsWith('/api/auth/')) {
      for (const fn of listeners.unauthorized) fn();
    }
    throw new ApiError(resp.status, data?.detail || resp.statusText || `HTTP ${resp.status}`, data?.extra);
  }
  const cachedAt = resp.headers.get('X-Naryad-Cached-At');
  if (keep && !cachedAt && data !== null) await remember(path, data);
  return {
    data,
    status: resp.status,
    cachedAt,
    replayed: resp.headers.get('Idempotent-Replayed') === 'true',
  };
}

export async function get(path) {
  return (await request(path)).data;
}

export function query(params) {
  const search = new URLSearchParams();
  for (const [name, value] of Object.entries(params)) {
    if (value !== undefined && value !== null && value !== '') search.set(name, value);
  }
  const text = search.toString();
  return text ? `?${text}` : '';
}
