// Web Push after login, only where the browser supports it and the server lists
// POST /api/push/subscriptions in its schema (the notifications work adds it); else silent.

import { get, newKey, request } from './api.js';
import { browser, endpoints, hasEndpoint } from './features.js';

const SUBSCRIBE = '/api/push/subscriptions';

function base64UrlToBytes(text) {
  const padded = text.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (text.length % 4)) % 4);
  return Uint8Array.from(atob(padded), (c) => c.charCodeAt(0));
}

async function serverKey() {
  const keyPath = (await endpoints('/api/push/')).find((p) => /key|vapid/i.test(p));
  if (!keyPath) return null;
  const body = await get(keyPath);
  if (typeof body === 'string') return body;
  return body?.public_key || body?.vapid_public_key || body?.key || null;
}

/** 'unsupported' | 'unavailable' | 'default' | 'denied' | 'subscribed'. */
export async function pushState() {
  if (!browser.push) return 'unsupported';
  if (!(await hasEndpoint('post', SUBSCRIBE))) return 'unavailable';
  return Notification.permission === 'granted' ? 'granted' : Notification.permission;
}

export async function subscribe({ ask = false } = {}) {
  try {
    const state = await pushState();
    if (state === 'unsupported' || state === 'unavailable' || state === 'denied') return state;
    let permission = Notification.permission;
    if (permission === 'default' && ask) permission = await Notification.requestPermission();
    if (permission !== 'granted') return permission;
    const key = await serverKey();
    if (!key) return 'unavailable';
    const registration = await navigator.serviceWorker.ready;
    let subscription = await registration.pushManager.getSubscription();
    if (!subscription) {
      subscription = await registration.pushManager.subscribe({
        userVisibleOnly: true,
        applicationServerKey: base64UrlToBytes(key),
      });
    }
    await request(SUBSCRIBE, { method: 'POST', body: subscription.toJSON(), idempotencyKey: newKey() });
    return 'subscribed';
  } catch (err) {
    console.warn('push subscription skipped', err);
    return 'unavailable';
  }
}
