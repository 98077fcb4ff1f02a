// The page's own copy of what the API answered (GET only), in IndexedDB: the queue, the
// lists and the tasks opened are there offline even when the service worker did not yet
// control the page when they were fetched (the first minutes after the first login).
// The service worker's cache stays the first fallback; this is the second. Cleared when
// another person logs in or on logout.

const DB_NAME = 'naryad-cache';
const STORE = 'responses';
const MAX_ROWS = 400;

let opening = null;

function promised(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (typeof indexedDB === 'undefined') return Promise.resolve(null);
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, 1);
      req.onupgradeneeded = () => {
        const store = req.result.createObjectStore(STORE, { keyPath: 'path' });
        store.createIndex('at', 'at');
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('blocked'));
    }).catch(() => null);
  }
  return opening;
}

async function tx(mode, fn) {
  const db = await open();
  if (!db) return null;
  const transaction = db.transaction(STORE, mode);
  const result = await fn(transaction.objectStore(STORE));
  await new Promise((resolve, reject) => {
    transaction.oncomplete = resolve;
    transaction.onerror = () => reject(transaction.error);
    transaction.onabort = () => reject(transaction.error);
  });
  return result;
}

/** Which answers are worth keeping: JSON of the API, not files, not the session check. */
export function cacheable(path) {
  return path.startsWith('/api/') && !path.startsWith('/api/auth/') && !/\.(pdf|csv|xlsx)(\?|$)/.test(path) && !/\/signature(\?|$)/.test(path);
}

export async function remember(path, data) {
  try {
    await tx('readwrite', async (store) => {
      store.put({ path, data, at: new Date().toISOString() });
      const count = await promised(store.count());
      if (count > MAX_ROWS) {
        // Drop the oldest few so the copy stays small.
        const keys = await promised(store.index('at').getAllKeys(null, count - MAX_ROWS));
        for (const key of keys) store.delete(key);
      }
    });
  } catch {
    /* a full or blocked store only costs the offline copy */
  }
}

/** {data, at} or null. */
export async function recall(path) {
  try {
    return await tx('readonly', (store) => promised(store.get(path)));
  } catch {
    return null;
  }
}

export async function clearAll() {
  try {
    await tx('readwrite', (store) => promised(store.clear()));
  } catch {
    /* nothing kept */
  }
}
