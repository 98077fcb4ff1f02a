// A signature pad on <canvas>: pointer events where available, touch/mouse otherwise.

import { field, h } from './dom.js';
import { t } from './i18n.js';
import { browser } from './features.js';

export function signaturePad({ onsave }) {
  if (!browser.canvas) return h('p', { class: 'note' }, t('signature.unsupported'));
  const canvas = h('canvas', {
    class: 'signature-canvas',
    id: 'signature-canvas',
    role: 'img',
    'aria-label': t('signature.canvas_label'),
  });
  const name = h('input', { name: 'signer_name', autocomplete: 'name', id: 'signer-name' });
  const status = h('p', { class: 'note', role: 'status', id: 'signature-status' });
  const ctx = canvas.getContext('2d');
  let drawing = false;
  let empty = true;
  let last = null;

  function resize() {
    // Draw at device resolution so the stroke stays sharp; keep what was drawn.
    const ratio = window.devicePixelRatio || 1;
    const width = canvas.clientWidth || 320;
    const height = canvas.clientHeight || 160;
    if (canvas.width === Math.round(width * ratio) && canvas.height === Math.round(height * ratio)) return;
    const copy = empty ? null : canvas.toDataURL();
    canvas.width = Math.round(width * ratio);
    canvas.height = Math.round(height * ratio);
    ctx.setTransform(ratio, 0, 0, ratio, 0, 0);
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#111';
    ctx.fillStyle = '#fff';
    ctx.fillRect(0, 0, width, height);
    if (copy) {
      const img = new Image();
      img.onload = () => ctx.drawImage(img, 0, 0, width, height);
      img.src = copy;
    }
  }

  function point(event) {
    const rect = canvas.getBoundingClientRect();
    const source = event.touches ? event.touches[0] : event;
    return { x: source.clientX - rect.left, y: source.clientY - rect.top };
  }

  function start(event) {
    resize();
    drawing = true;
    last = point(event);
    ctx.beginPath();
    ctx.arc(last.x, last.y, 1, 0, Math.PI * 2);
    ctx.fillStyle = '#111';
    ctx.fill();
    ctx.fillStyle = '#fff';
    empty = false;
    event.preventDefault();
    if (event.pointerId !== undefined) canvas.setPointerCapture?.(event.pointerId);
  }

  function move(event) {
    if (!drawing) return;
    const p = point(event);
    ctx.beginPath();
    ctx.moveTo(last.x, last.y);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    last = p;
    event.preventDefault();
  }

  function end() {
    drawing = false;
  }

  if (browser.pointerEvents) {
    canvas.addEventListener('pointerdown', start);
    canvas.addEventListener('pointermove', move);
    canvas.addEventListener('pointerup', end);
    canvas.addEventListener('pointercancel', end);
  } else {
    canvas.addEventListener('mousedown', start);
    canvas.addEventListener('mousemove', move);
    window.addEventListener('mouseup', end);
    canvas.addEventListener('touchstart', start, { passive: false });
    canvas.addEventListener('touchmove', move, { passive: false });
    canvas.addEventListener('touchend', end);
  }

  function clearPad() {
    empty = true;
    canvas.width = 0; // forces resize() to repaint
    resize();
    status.textContent = '';
  }

  async function save() {
    if (empty) {
      status.textContent = t('signature.empty');
      return;
    }
    if (!name.value.trim()) {
      status.textContent = t('signature.name_required');
      name.focus();
      return;
    }
    const png = canvas.toDataURL('image/png').replace(/^data:image\/png;base64,/, '');
    status.textContent = await onsave({ png_base64: png, signer_name: name.value.trim() });
  }

  const box = h(
    'div',
    { class: 'signature' },
    h('p', { class: 'hint', id: 'signature-hint' }, t('signature.hint')),
    canvas,
    field(t('signature.signer'), name),
    h(
      'div',
      { class: 'actions-inline' },
      h('button', { type: 'button', class: 'btn btn-ghost', onclick: clearPad }, t('signature.clear')),
      h('button', { type: 'button', class: 'btn btn-secondary', onclick: save, id: 'signature-save' }, t('signature.save')),
    ),
    status,
  );
  // Size the bitmap once the canvas is laid out.
  requestAnimationFrame(resize);
  window.addEventListener('resize', resize);
  return box;
}
