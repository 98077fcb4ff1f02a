// The task's specification: works and materials from the price list (search as you type)
// or free lines, with quantity and discount; totals; whether it is locked. Money is
// strings end to end (the server's rounding is the one printed). Needs a connection:
// offline the last copy is shown read-only.

import { OfflineError, get, query, request } from './api.js';
import { field, h, replace } from './dom.js';
import { language, t } from './i18n.js';

function money(value) {
  const n = Number(value);
  if (Number.isNaN(n)) return String(value ?? '');
  return n.toLocaleString(language() === 'ru' ? 'ru-RU' : 'en-GB', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
}

/** A section element and refresh(); `canEdit()` says whether this person may change it now. */
export function specSection(taskId, { canEdit }) {
  const root = h('section', { class: 'card spec', id: 'spec', 'aria-labelledby': 'spec-h' });
  const state = { spec: null, cachedAt: null, error: null, results: [], q: '', message: null, busy: false };
  let searchTimer = null;
  let searchSeq = 0;

  async function refresh() {
    try {
      const resp = await request(`/api/tasks/${taskId}/specification`);
      state.spec = resp.data;
      state.cachedAt = resp.cachedAt;
      state.error = null;
    } catch (err) {
      state.error = err instanceof OfflineError ? { detail: t('common.offline_not_cached') } : err;
    }
    draw();
  }

  async function change(fn) {
    state.busy = true;
    state.message = null;
    try {
      await fn();
      state.message = null;
    } catch (err) {
      state.message = err?.detail || err?.message || t('common.failed');
    }
    state.busy = false;
    await refresh();
  }

  async function search(text) {
    state.q = text;
    const seq = ++searchSeq;
    if (text.trim().length < 2) {
      state.results = [];
      drawResults();
      return;
    }
    try {
      const rows = await get(`/api/price-list${query({ q: text.trim() })}`);
      if (seq !== searchSeq) return;
      state.results = rows.slice(0, 8);
    } catch {
      state.results = [];
    }
    drawResults();
  }

  const results = h('ul', { class: 'spec-results', id: 'spec-results', 'aria-live': 'polite' });
  const qty = h('input', { name: 'spec_quantity', id: 'spec-quantity', inputmode: 'decimal', value: '1', size: 4 });
  const discount = h('input', { name: 'spec_discount', id: 'spec-discount', inputmode: 'decimal', value: '0', size: 4 });
  const searchBox = h('input', { type: 'search', name: 'spec_search', id: 'spec-search', autocomplete: 'off', placeholder: t('spec.search_placeholder') });
  searchBox.addEventListener('input', () => {
    clearTimeout(searchTimer);
    searchTimer = setTimeout(() => search(searchBox.value), 200);
  });

  function drawResults() {
    replace(results, state.results.map((item) => h('li', {},
      h('button', {
        type: 'button',
        class: 'btn btn-secondary spec-add',
        dataset: { itemId: String(item.id) },
        disabled: state.busy,
        onclick: () => change(async () => {
          await request(`/api/tasks/${taskId}/specification/lines`, {
            method: 'POST',
            body: { price_item_id: item.id, quantity: qty.value.trim().replace(',', '.') || '1', discount_percent: discount.value.trim().replace(',', '.') || '0' },
          });
          searchBox.value = '';
          state.results = [];
        }),
      }, `${item.name} · ${money(item.price)} ₽/${item.unit}`))));
  }

  function freeLineForm() {
    const name = h('input', { name: 'free_name', id: 'free-name' });
    const price = h('input', { name: 'free_price', id: 'free-price', inputmode: 'decimal' });
    const fqty = h('input', { name: 'free_quantity', id: 'free-quantity', inputmode: 'decimal', value: '1' });
    const unit = h('input', { name: 'free_unit', id: 'free-unit', value: t('spec.unit_default') });
    return h('details', { class: 'spec-free' }, h('summary', {}, t('spec.free_line')),
      h('form', {
        class: 'inline-form',
        id: 'free-line-form',
        onsubmit: (event) => {
          event.preventDefault();
          if (!name.value.trim() || !price.value.trim()) return;
          change(() => request(`/api/tasks/${taskId}/specification/lines`, {
            method: 'POST',
            body: { name: name.value.trim(), price: price.value.trim().replace(',', '.'), quantity: fqty.value.trim().replace(',', '.') || '1', unit: unit.value.trim() || t('spec.unit_default') },
          }));
        },
      }, field(t('spec.name'), name), field(t('spec.price'), price), field(t('spec.quantity'), fqty), field(t('spec.unit'), unit),
      h('button', { type: 'submit', class: 'btn btn-secondary', disabled: state.busy }, t('spec.add'))));
  }

  function draw() {
    const spec = state.spec;
    const editable = Boolean(spec) && !spec.locked && !state.cachedAt && canEdit();
    const lines = spec?.lines || [];
    const table = lines.length
      ? h('table', { class: 'spec-table', id: 'spec-lines' },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('spec.name')), h('th', { scope: 'col' }, t('spec.quantity')), h('th', { scope: 'col' }, t('spec.price')), h('th', { scope: 'col' }, t('spec.discount')), h('th', { scope: 'col' }, t('spec.total')), editable ? h('th', { scope: 'col' }, h('span', { class: 'visually-hidden' }, t('spec.remove'))) : null)),
        h('tbody', {}, lines.map((line) => h('tr', { dataset: { lineId: String(line.id) } },
          h('td', {}, line.name),
          h('td', { class: 'num' }, editable
            ? h('input', {
              class: 'spec-qty', name: `qty-${line.id}`, 'aria-label': t('spec.quantity_of', { name: line.name }), inputmode: 'decimal', value: String(line.quantity), size: 4,
              onchange: (event) => change(() => request(`/api/tasks/${taskId}/specification/lines/${line.id}`, { method: 'PATCH', body: { quantity: event.target.value.trim().replace(',', '.') } })),
            })
            : `${line.quantity} ${line.unit}`),
          h('td', { class: 'num' }, money(line.price)),
          h('td', { class: 'num' }, Number(line.discount_percent) ? `${line.discount_percent}%` : '—'),
          h('td', { class: 'num' }, money(line.amounts.total)),
          editable ? h('td', {}, h('button', {
            type: 'button', class: 'btn btn-ghost btn-small', 'aria-label': t('spec.remove_line', { name: line.name }), dataset: { action: 'remove-line' },
            onclick: () => change(() => request(`/api/tasks/${taskId}/specification/lines/${line.id}`, { method: 'DELETE' })),
          }, '×')) : null))))
      : h('p', { class: 'empty' }, t('spec.empty'));
    const totals = spec ? h('dl', { class: 'spec-totals', id: 'spec-totals' },
      h('dt', {}, t('spec.subtotal')), h('dd', {}, money(spec.totals.subtotal)),
      Number(spec.totals.discount) ? [h('dt', {}, t('spec.discount')), h('dd', {}, `−${money(spec.totals.discount)}`)] : null,
      h('dt', {}, t('spec.vat')), h('dd', {}, spec.totals.vat_applicable ? money(spec.totals.vat) : t('spec.no_vat')),
      h('dt', {}, h('strong', {}, t('spec.total'))), h('dd', { id: 'spec-total' }, h('strong', {}, `${money(spec.totals.total)} ₽`))) : null;
    replace(root,
      h('h2', { id: 'spec-h' }, t('spec.title'), spec?.locked ? h('span', { class: 'badge', id: 'spec-locked' }, ` ${t('spec.locked')}`) : null,
        spec?.unlocked ? h('span', { class: 'badge badge-pending' }, ` ${t('spec.unlocked')}`) : null),
      state.error ? h('p', { class: 'note' }, state.error.detail || t('common.failed')) : null,
      state.message ? h('p', { class: 'alert alert-error', role: 'alert' }, state.message) : null,
      table,
      lines.length ? totals : null,
      editable ? h('div', { class: 'spec-add-box' },
        field(t('spec.search'), searchBox, { hint: t('spec.search_hint') }),
        h('div', { class: 'spec-params' }, field(t('spec.quantity'), qty), field(t('spec.discount_percent'), discount)),
        results,
        freeLineForm()) : null,
      spec?.locked ? h('p', { class: 'muted' }, t('spec.locked_hint')) : null);
    drawResults();
  }

  draw();
  return { element: root, refresh, redraw: draw };
}
