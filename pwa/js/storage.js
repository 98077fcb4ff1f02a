// localStorage can be missing or throw (private modes, storage disabled): fall back to memory.

const memory = new Map();

function available() {
  try {
    const probe = '__naryad_probe__';
    window.localStorage.setItem(probe, '1');
    window.localStorage.removeItem(probe);
    return true;
  } catch {
    return false;
  }
}

const persistent = typeof window !== 'undefined' && available();

export const storage = {
  persistent,
  get(key) {
    return persistent ? window.localStorage.getItem(key) : memory.get(key) ?? null;
  },
  set(key, value) {
    if (persistent) window.localStorage.setItem(key, value);
    else memory.set(key, value);
  },
  remove(key) {
    if (persistent) window.localStorage.removeItem(key);
    else memory.delete(key);
  },
  getJSON(key) {
    try {
      return JSON.parse(this.get(key) ?? 'null');
    } catch {
      return null;
    }
  },
  setJSON(key, value) {
    this.set(key, JSON.stringify(value));
  },
};
