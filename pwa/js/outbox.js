// The outbox: every change the user makes is written to IndexedDB first, with its own
// Idempotency-Key and the If-Match version the user saw, then sent in order. Offline,
// entries wait; when the connection returns they are replayed in order. A resend after a
// lost response is harmless: the server answers a known key with the first response.
// An entry the server refuses (someone else accepted, the task changed) is kept as a
// conflict until the user reads it and retries or discards it: nothing is lost silently.

import { ApiError, OfflineError, get, newKey, request } from './api.js';
import * as idb from './idb.js';
import { hasEndpoint } from './features.js';

const STORE = 'outbox';
// Kinds whose endpoint may be missing on an older server: such entries wait ("held").
const NEEDS_ENDPOINT = {
  signature: '/api/tasks/{task_id}/signature',
  attachment: '/api/tasks/{task_id}/attachments',
};
const listeners = new Set();
const awaiting = new Set();
const results = new Map();
const channel = 'BroadcastChannel' in self ? new BroadcastChannel('naryad-outbox') : null;
let me = null;
let chain = Promise.resolve();

export function setUser(user) {
  me = user;
}

export function onChange(fn) {
  listeners.add(fn);
  return () => listeners.delete(fn);
}

async function changed(broadcast = true) {
  const state = await summary();
  for (const fn of listeners) fn(state);
  if (broadcast && channel) channel.postMessage('changed');
}

if (channel) channel.onmessage = () => changed(false);

export async function entries() {
  const rows = await idb.all(STORE);
  return rows.filter((row) => !me || row.userId === me.id).sort((a, b) => a.seq - b.seq);
}

export async function entriesFor(taskId) {
  return (await entries()).filter((row) => row.taskId === taskId);
}

export async function summary() {
  const rows = await entries();
  return {
    pending: rows.filter((r) => r.state === 'pending').length,
    conflicts: rows.filter((r) => r.state === 'conflict').length,
    held: rows.filter((r) => r.state === 'held').length,
  };
}

/**
 * spec: {kind: 'transition'|'comment'|'signature'|'attachment'|'create', taskId, action, path, body, ifMatch}
 */
export async function enqueue(spec) {
  const entry = {
    ...spec,
    key: newKey(),
    userId: me?.id ?? null,
    state: 'pending',
    error: null,
    createdAt: new Date().toISOString(),
  };
  entry.seq = await idb.add(STORE, entry);
  await changed();
  return entry.seq;
}

/** Enqueue and, when online, send at once. Resolves to {status: done|queued|failed, ...}. */
export async function perform(spec) {
  const seq = await enqueue(spec);
  if (!navigator.onLine) return { status: 'queued', seq };
  awaiting.add(seq);
  try {
    await flush();
  } finally {
    awaiting.delete(seq);
  }
  const result = results.get(seq);
  results.delete(seq);
  if (result) return result;
  // Sent by another tab meanwhile: read what is left of it.
  const left = (await idb.all(STORE)).find((row) => row.seq === seq);
  if (!left) return { status: 'done', data: null, seq };
  if (left.state === 'pending') return { status: 'queued', seq };
  return { status: 'failed', error: left.error, seq };
}

export function flush() {
  const pass = chain.then(lockedPass, lockedPass);
  chain = pass.catch(() => {});
  return pass;
}

function lockedPass() {
  // One sender across tabs where the Web Locks API exists; idempotency keys cover the rest.
  if (navigator.locks?.request) return navigator.locks.request('naryad-outbox', pass);
  return pass();
}

async function describeConflict(entry, err) {
  const error = { status: err.status, detail: err.detail, extra: err.extra, holder: null, currentStatus: null };
  if (err.extra?.assignee?.full_name) error.holder = err.extra.assignee.full_name;
  if (err.status === 409 && entry.taskId) {
    // A stale If-Match says only "changed": look at the task to say who holds it now.
    try {
      const task = await get(`/api/tasks/${entry.taskId}`);
      error.currentStatus = task.status;
      if (!error.holder && task.assignee && task.assignee.id !== me?.id) error.holder = task.assignee.full_name;
      error.currentVersion = task.version;
    } catch {
      /* the explanation is a courtesy; the server's detail is already kept */
    }
  }
  return error;
}

async function pass() {
  if (!me) return;
  let touched = false;
  for (const entry of await entries()) {
    if (entry.state !== 'pending') continue;
    if (!navigator.onLine) break;
    if (NEEDS_ENDPOINT[entry.kind] && !(await hasEndpoint('post', NEEDS_ENDPOINT[entry.kind]))) {
      entry.state = 'held';
      entry.error = { code: 'no_endpoint' };
      await idb.put(STORE, entry);
      results.set(entry.seq, { status: 'held', seq: entry.seq });
      touched = true;
      continue;
    }
    try {
      const resp = await request(entry.path, {
        method: entry.method || 'POST',
        body: entry.body,
        idempotencyKey: entry.key,
        ifMatch: entry.ifMatch,
      });
      await idb.remove(STORE, entry.seq);
      results.set(entry.seq, { status: 'done', data: resp.data, replayed: resp.replayed, seq: entry.seq });
      touched = true;
    } catch (err) {
      if (err instanceof OfflineError || (err instanceof ApiError && (err.transient || err.status === 401))) {
        results.set(entry.seq, { status: 'queued', seq: entry.seq });
        break; // keep the order: nothing after it is sent before it
      }
      if (!(err instanceof ApiError)) throw err;
      const error = await describeConflict(entry, err);
      if (awaiting.has(entry.seq)) {
        // The user is looking at the result right now; the screen shows it.
        await idb.remove(STORE, entry.seq);
      } else {
        entry.state = 'conflict';
        entry.error = error;
        await idb.put(STORE, entry);
      }
      results.set(entry.seq, { status: 'failed', error, seq: entry.seq });
      touched = true;
    }
  }
  if (touched) await changed();
}

/** Send a conflicting entry again; after a stale-version conflict, against the current version. */
export async function retry(seq) {
  const entry = (await idb.all(STORE)).find((row) => row.seq === seq);
  if (!entry) return;
  if (entry.error?.extra?.current_version !== undefined) entry.ifMatch = entry.error.extra.current_version;
  else if (entry.error?.currentVersion !== undefined && entry.ifMatch != null) entry.ifMatch = entry.error.currentVersion;
  entry.state = 'pending';
  entry.error = null;
  await idb.put(STORE, entry);
  await changed();
  return flush();
}

export async function discard(seq) {
  await idb.remove(STORE, seq);
  await changed();
}

/** Entries waiting for an endpoint that now exists go back to the queue. */
export async function releaseHeld() {
  let any = false;
  for (const entry of await entries()) {
    if (entry.state !== 'held') continue;
    if (NEEDS_ENDPOINT[entry.kind] && !(await hasEndpoint('post', NEEDS_ENDPOINT[entry.kind]))) continue;
    entry.state = 'pending';
    entry.error = null;
    await idb.put(STORE, entry);
    any = true;
  }
  if (any) await changed();
}

/** What to tell the user about an entry held for a missing endpoint. */
export function heldTextKey(entry) {
  return entry.kind === 'attachment' ? 'photos.held' : 'signature.held';
}
