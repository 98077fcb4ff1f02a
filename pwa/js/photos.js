// Photos and files of the work. A picked photo larger than 1600 px (or than 1.5 MB) is made
// smaller on the phone (canvas, JPEG 0.85), then sent through the outbox like every other
// action: offline it waits in IndexedDB with its own Idempotency-Key and is sent once when
// the connection returns. What the server has is listed from GET …/attachments; thumbnails
// are fetched with the session cookie (the service worker keeps the copies it has seen).

import { get } from './api.js';
import * as idb from './idb.js';
import * as outbox from './outbox.js';
import { clear, field, h } from './dom.js';
import { t } from './i18n.js';

const MAX_SIDE = 1600;
const QUALITY = 0.85;
const MAX_BYTES = 10 * 1024 * 1024; // the server's limit per file
const SEND_AS_IS_BYTES = 1.5 * 1024 * 1024;
const RESIZABLE = new Set(['image/jpeg', 'image/png', 'image/webp']);
const SHOWN = new Set(['image/jpeg', 'image/png', 'image/webp']); // HEIC: most browsers cannot draw it
const BY_EXTENSION = { jpg: 'image/jpeg', jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp', heic: 'image/heic', heif: 'image/heic', pdf: 'application/pdf' };

function typeOf(file) {
  if (file.type) return file.type;
  const ext = (file.name || '').split('.').pop().toLowerCase();
  return BY_EXTENSION[ext] || 'application/octet-stream';
}

function decode(file) {
  if ('createImageBitmap' in window) return createImageBitmap(file, { imageOrientation: 'from-image' });
  return new Promise((resolve, reject) => {
    const url = URL.createObjectURL(file);
    const img = new Image();
    img.onload = () => {
      URL.revokeObjectURL(url);
      resolve(img);
    };
    img.onerror = () => {
      URL.revokeObjectURL(url);
      reject(new Error('not an image this browser can draw'));
    };
    img.src = url;
  });
}

/** {blob, type, name}: the file as it is, or a smaller JPEG of it. */
export async function prepare(file) {
  const type = typeOf(file);
  const asIs = { blob: file, type, name: file.name || 'photo' };
  if (!RESIZABLE.has(type)) return asIs;
  let image;
  try {
    image = await decode(file);
  } catch {
    return asIs; // the server checks the bytes; let it say what is wrong
  }
  const width = image.width;
  const height = image.height;
  const scale = Math.min(1, MAX_SIDE / Math.max(width, height));
  if (scale === 1 && file.size <= SEND_AS_IS_BYTES) {
    image.close?.();
    return asIs;
  }
  const canvas = document.createElement('canvas');
  canvas.width = Math.max(1, Math.round(width * scale));
  canvas.height = Math.max(1, Math.round(height * scale));
  const ctx = canvas.getContext('2d');
  ctx.fillStyle = '#fff'; // JPEG has no transparency: white, not black, behind a PNG
  ctx.fillRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(image, 0, 0, canvas.width, canvas.height);
  image.close?.();
  const blob = await new Promise((resolve) => canvas.toBlob(resolve, 'image/jpeg', QUALITY));
  if (!blob || (scale === 1 && blob.size >= file.size)) return asIs;
  return { blob, type: 'image/jpeg', name: `${asIs.name.replace(/\.[^.]*$/, '') || 'photo'}.jpg` };
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

function megabytes(n) {
  return (n / 1024 / 1024).toFixed(1);
}

/**
 * The photo card of a task: {element, refresh(), setCanAdd(bool)}. Built once per task
 * screen and re-attached on every redraw, so thumbnails are fetched once.
 */
export function photoSection(taskId, { onSent } = {}) {
  const state = { items: null, waiting: [], canAdd: false, busy: false };
  const thumbs = new Map(); // attachment id -> object URL
  const list = h('ul', { class: 'photos', id: `photos-list-${taskId}` });
  const status = h('p', { class: 'hint photo-status', id: `photos-status-${taskId}`, role: 'status', 'aria-live': 'polite' });
  const input = h('input', {
    type: 'file',
    accept: 'image/*,application/pdf',
    multiple: true,
    name: 'photos',
    id: `photos-${taskId}`,
  });
  const caption = h('input', { type: 'text', name: 'photo_caption', id: `photo-caption-${taskId}`, maxlength: 500, autocomplete: 'off' });
  const pub = h('input', { type: 'checkbox', name: 'photo_public', id: `photo-public-${taskId}` });
  const adder = h('div', { class: 'photo-add' },
    field(t('photos.caption'), caption, { hint: t('photos.caption_hint') }),
    h('div', { class: 'check' }, pub, h('label', { for: pub.id }, t('photos.make_public'))),
    field(t('photos.add'), input, { hint: t('photos.hint') }));
  const element = h('div', { class: 'photo-box' }, adder, status, list);

  function say(text) {
    status.textContent = text || '';
  }

  function thumbnail(item) {
    const img = h('img', { alt: item.caption || t('photos.alt', { name: item.filename }), loading: 'lazy', width: 96, height: 96 });
    const known = thumbs.get(item.id);
    if (known) {
      img.src = known;
    } else {
      fetch(item.url, { credentials: 'same-origin' })
        .then(async (resp) => {
          if (!resp.ok) return;
          const url = URL.createObjectURL(await resp.blob());
          thumbs.set(item.id, url);
          img.src = url;
        })
        .catch(() => {}); // offline and never seen: the name is still shown
    }
    return img;
  }

  function draw() {
    adder.hidden = !state.canAdd;
    clear(list);
    for (const item of state.items || []) {
      const name = item.caption || item.filename;
      list.append(h('li', { class: 'photo', dataset: { attachmentId: String(item.id) } },
        h('a', {
          href: item.url,
          target: '_blank',
          rel: 'noopener',
          class: SHOWN.has(item.content_type) ? 'photo-link' : 'photo-link photo-file btn btn-ghost btn-small',
          'aria-label': t('photos.open', { name }),
        }, SHOWN.has(item.content_type) ? thumbnail(item) : item.filename),
        h('span', { class: 'photo-caption' }, name),
        item.public ? h('span', { class: 'badge' }, t('photos.public')) : null));
    }
    for (const entry of state.waiting) {
      const body = entry.body || {};
      const name = body.caption || body.filename;
      list.append(h('li', { class: 'photo waiting' },
        SHOWN.has(body.content_type)
          ? h('img', { src: body.data_base64, alt: t('photos.alt', { name: body.filename }), width: 96, height: 96 })
          : h('span', { class: 'photo-file' }, body.filename),
        h('span', { class: 'photo-caption' }, name),
        h('span', { class: 'badge badge-pending' }, entry.state === 'conflict' ? t('outbox.conflict_short') : t('outbox.pending_short'))));
    }
    if (state.items === null && !state.waiting.length) list.append(h('li', { class: 'note' }, t('common.offline_not_cached')));
    else if (!(state.items || []).length && !state.waiting.length) list.append(h('li', { class: 'muted' }, t('photos.none')));
  }

  async function refresh() {
    try {
      state.items = await get(`/api/tasks/${taskId}/attachments`);
    } catch {
      /* offline without a copy, or an older server: keep what was shown */
    }
    state.waiting = (await outbox.entriesFor(taskId)).filter((e) => e.kind === 'attachment');
    draw();
  }

  async function send(file) {
    say(t('photos.preparing', { name: file.name }));
    const prepared = await prepare(file);
    if (prepared.blob.size > MAX_BYTES) {
      say(t('photos.too_big', { name: file.name, mb: megabytes(prepared.blob.size) }));
      return false;
    }
    const result = await outbox.perform({
      kind: 'attachment',
      taskId,
      action: 'attachment',
      path: `/api/tasks/${taskId}/attachments`,
      body: {
        filename: prepared.name,
        content_type: prepared.type,
        data_base64: await dataUrl(prepared.blob),
        caption: caption.value.trim(),
        public: pub.checked,
      },
    });
    if (result.status === 'done') say(t('photos.sent', { name: prepared.name }));
    else if (result.status === 'queued') say(t('outbox.queued_notice'));
    else if (result.status === 'held') say(t('photos.held'));
    else say(`${t('photos.failed', { name: prepared.name })} ${result.error?.detail || ''}`.trim());
    return result.status !== 'failed';
  }

  async function sendAll(files) {
    if (state.busy) return;
    state.busy = true;
    input.disabled = true;
    try {
      let ok = true;
      for (const file of files) ok = (await send(file)) && ok;
      if (ok) {
        caption.value = '';
        pub.checked = false;
      }
    } finally {
      state.busy = false;
      input.disabled = false;
      await refresh();
      onSent?.();
    }
  }

  input.addEventListener('change', () => {
    const files = [...input.files];
    input.value = '';
    if (files.length) sendAll(files);
  });

  // Photos an earlier version of the app kept on this device only: send them now.
  async function sendLocalLeftovers() {
    const rows = await idb.byIndex('photos', taskId).catch(() => []);
    if (!rows.length) return;
    await sendAll(rows.map((row) => new File([row.blob], row.name, { type: row.type })));
    for (const row of rows) await idb.remove('photos', row.id);
  }

  draw();
  return {
    element,
    refresh,
    setCanAdd(canAdd) {
      const first = canAdd && !state.canAdd;
      state.canAdd = canAdd;
      adder.hidden = !canAdd;
      if (first) sendLocalLeftovers();
    },
  };
}
