// IndexedDB, promisified: the outbox lives here (and photos an older version kept locally, until they are uploaded). Without IndexedDB
// (some private modes) the stores live in memory and the UI says so.

const DB_NAME = 'naryad';
const VERSION = 1;
const STORES = {
  outbox: { keyPath: 'seq', autoIncrement: true },
  photos: { keyPath: 'id', autoIncrement: true, index: 'task' },
};

let opening = null;
export let persistent = typeof indexedDB !== 'undefined';

function promised(req) {
  return new Promise((resolve, reject) => {
    req.onsuccess = () => resolve(req.result);
    req.onerror = () => reject(req.error);
  });
}

function open() {
  if (!opening) {
    opening = new Promise((resolve, reject) => {
      const req = indexedDB.open(DB_NAME, VERSION);
      req.onupgradeneeded = () => {
        const db = req.result;
        for (const [name, spec] of Object.entries(STORES)) {
          if (db.objectStoreNames.contains(name)) continue;
          const store = db.createObjectStore(name, { keyPath: spec.keyPath, autoIncrement: spec.autoIncrement });
          if (spec.index) store.createIndex(spec.index, spec.index);
        }
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
      req.onblocked = () => reject(new Error('IndexedDB is blocked by another tab'));
    }).catch((err) => {
      console.warn('IndexedDB unavailable, keeping data in memory', err);
      persistent = false;
      return null;
    });
  }
  return opening;
}

// In-memory stand-in with the same operations.
const memory = { outbox: new Map(), photos: new Map() };
const counters = { outbox: 0, photos: 0 };

async function withStore(name, mode, fn) {
  const db = persistent ? await open() : null;
  if (!db) return fn(null);
  const tx = db.transaction(name, mode);
  const result = await fn(tx.objectStore(name));
  await new Promise((resolve, reject) => {
    tx.oncomplete = resolve;
    tx.onerror = () => reject(tx.error);
    tx.onabort = () => reject(tx.error);
  });
  return result;
}

export function add(name, value) {
  return withStore(name, 'readwrite', async (store) => {
    if (!store) {
      counters[name] += 1;
      const key = counters[name];
      memory[name].set(key, { ...value, [STORES[name].keyPath]: key });
      return key;
    }
    return promised(store.add(value));
  });
}

export function put(name, value) {
  return withStore(name, 'readwrite', async (store) => {
    if (!store) {
      memory[name].set(value[STORES[name].keyPath], value);
      return value[STORES[name].keyPath];
    }
    return promised(store.put(value));
  });
}

export function remove(name, key) {
  return withStore(name, 'readwrite', async (store) => {
    if (!store) return memory[name].delete(key);
    return promised(store.delete(key));
  });
}

export function all(name) {
  return withStore(name, 'readonly', async (store) => {
    if (!store) return [...memory[name].values()].sort((a, b) => a[STORES[name].keyPath] - b[STORES[name].keyPath]);
    return promised(store.getAll());
  });
}

export function byIndex(name, value) {
  return withStore(name, 'readonly', async (store) => {
    if (!store) return [...memory[name].values()].filter((row) => row[STORES[name].index] === value);
    return promised(store.index(STORES[name].index).getAll(value));
  });
}
