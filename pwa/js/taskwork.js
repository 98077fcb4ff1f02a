// The work on a task from issue 16, kept apart from task.js (which others edit): the
// equipment worked on, the checklist on the phone (large targets; every change goes
// through the outbox, so it works offline and is sent once), and labour time.

import { OfflineError, get, query, request } from './api.js';
import { field, h, replace } from './dom.js';
import { t } from './i18n.js';
import * as outbox from './outbox.js';
import { button, errorBox } from './ui.js';

function equipmentLabel(e) {
  return [e.kind, e.model, e.serial ? `№ ${e.serial}` : null].filter(Boolean).join(' · ');
}

/** The task's equipment (from the task JSON), listed with serial numbers. */
export function equipmentList(task) {
  if (!task?.equipment?.length) return null;
  return h('section', { class: 'card equipment', id: 'task-equipment', 'aria-labelledby': 'equipment-h' },
    h('h2', { id: 'equipment-h' }, t('work.equipment')),
    h('ul', { class: 'plain-list' }, task.equipment.map((e) => h('li', { dataset: { equipmentId: String(e.id) } }, equipmentLabel(e)))));
}

/** A multiple choice of a counterparty's equipment, for the new-task form. */
export function equipmentPicker() {
  const select = h('select', { name: 'equipment_ids', id: 'new-equipment', multiple: true, disabled: true, size: 3 });
  return {
    element: select,
    async load(counterpartyId) {
      replace(select);
      select.disabled = true;
      if (!counterpartyId) return;
      try {
        const page = await get(`/api/equipment${query({ counterparty: counterpartyId, limit: 200 })}`);
        replace(select, page.items.map((e) => h('option', { value: String(e.id) }, equipmentLabel(e))));
        select.disabled = !page.items.length;
      } catch {
        /* offline: the task is created without equipment; it can be added later */
      }
    },
    ids() {
      return Array.from(select.selectedOptions, (o) => Number(o.value));
    },
  };
}

/**
 * The checklist and labour time of a task: {element, refresh(), redraw()}.
 * `canWork()` says whether this person fills the checklist now (the holder, the office).
 */
export function workSection(taskId, { canWork }) {
  const root = h('section', { class: 'card work', id: 'work', 'aria-labelledby': 'work-h' });
  const state = { checklist: null, time: null, error: null, message: null, photos: [] };

  async function refresh() {
    try {
      const [checklist, time] = await Promise.all([
        request(`/api/tasks/${taskId}/checklist`),
        request(`/api/tasks/${taskId}/time`),
      ]);
      state.checklist = checklist.data;
      state.time = time.data;
      state.error = null;
    } catch (err) {
      state.error = err instanceof OfflineError ? { detail: t('common.offline_not_cached') } : err;
    }
    try {
      state.photos = (await get(`/api/tasks/${taskId}/attachments`)).filter((a) => a.content_type?.startsWith('image/'));
    } catch {
      state.photos = [];
    }
    await redraw();
  }

  async function pendingValues() {
    const values = new Map();
    for (const e of await outbox.entriesFor(taskId)) {
      if (e.kind === 'checklist' && e.state === 'pending') values.set(e.itemId, e.body.value);
    }
    return values;
  }

  async function setValue(item, value) {
    state.message = null;
    const result = await outbox.perform({
      kind: 'checklist',
      method: 'PATCH',
      taskId,
      itemId: item.id,
      action: 'checklist',
      path: `/api/tasks/${taskId}/checklist/${item.id}`,
      body: { value },
    });
    if (result.status === 'failed') state.message = result.error?.detail || t('common.failed');
    else if (result.status === 'queued') state.message = t('outbox.queued_notice');
    await refresh();
  }

  async function addTime(event) {
    event.preventDefault();
    const form = event.target;
    const minutes = Number(form.elements.minutes.value);
    if (!minutes) return;
    const body = { minutes };
    if (form.elements.note.value.trim()) body.note = form.elements.note.value.trim();
    const result = await outbox.perform({ kind: 'time', taskId, action: 'time', path: `/api/tasks/${taskId}/time`, body });
    state.message = result.status === 'failed' ? result.error?.detail || t('common.failed') : result.status === 'queued' ? t('outbox.queued_notice') : null;
    form.reset();
    await refresh();
  }

  function itemControl(item, value, editable) {
    const id = `check-${item.id}`;
    if (item.kind === 'check') {
      return h('button', {
        type: 'button',
        class: `btn check-target${value === true ? ' checked' : ''}`,
        id,
        'aria-pressed': value === true ? 'true' : 'false',
        disabled: !editable,
        onclick: () => setValue(item, value === true ? null : true),
      }, value === true ? '✓' : '');
    }
    if (item.kind === 'photo') {
      const select = h('select', { id, disabled: !editable, onchange: () => setValue(item, select.value ? Number(select.value) : null) },
        h('option', { value: '' }, t('work.pick_photo')),
        state.photos.map((p) => h('option', { value: String(p.id), selected: value === p.id }, p.caption || p.filename)));
      return select;
    }
    const shown = value === null || value === undefined ? '' : String(value);
    const input = item.kind === 'number'
      ? h('input', { id, type: 'number', step: 'any', inputmode: 'decimal', value: shown, disabled: !editable, dataset: { shown } })
      : h('input', { id, type: 'text', value: shown, disabled: !editable, dataset: { shown } });
    const save = () => {
      const raw = input.value.trim();
      input.dataset.shown = input.value;
      const next = raw === '' ? null : item.kind === 'number' ? Number(raw) : raw;
      if (next !== (value ?? null)) setValue(item, next);
    };
    input.addEventListener('change', save);
    return input;
  }

  let heldRedraw = false;

  async function redraw() {
    // Not under the fingers of someone typing a value: it is redrawn once they leave it.
    const typing = document.activeElement;
    if (typing?.tagName === 'INPUT' && root.contains(typing) && typing.value !== (typing.dataset.shown ?? '')) {
      if (!heldRedraw) {
        heldRedraw = true;
        typing.addEventListener('blur', () => {
          heldRedraw = false;
          setTimeout(redraw, 0);
        }, { once: true });
      }
      return;
    }
    const editable = canWork();
    const pending = await pendingValues();
    const items = state.checklist?.items || [];
    const checklist = items.length
      ? h('ol', { class: 'checklist' }, items.map((item) => {
        const value = pending.has(item.id) ? pending.get(item.id) : item.value;
        return h('li', { class: `checklist-item${item.done ? ' done' : ''}`, dataset: { itemId: String(item.id), kind: item.kind } },
          h('label', { for: `check-${item.id}` }, item.text, item.required ? h('span', { class: 'required-mark', title: t('work.required') }, ' *') : null,
            pending.has(item.id) ? h('span', { class: 'chip-pending' }, ` · ${t('outbox.pending_short')}`) : null),
          itemControl(item, value, editable));
      }))
      : null;
    const time = state.time;
    replace(root,
      h('h2', { id: 'work-h' }, t('work.title')),
      state.error ? errorBox(state.error) : null,
      state.message ? h('p', { class: 'note', role: 'status' }, state.message) : null,
      checklist ? [h('h3', {}, t('work.checklist'), state.checklist.open_required ? h('span', { class: 'badge badge-pending' }, ` ${t('work.open_required', { n: state.checklist.open_required })}`) : null), checklist] : null,
      h('h3', {}, t('work.time'), time ? ` · ${t('work.total', { h: Math.floor(time.total_minutes / 60), m: time.total_minutes % 60 })}` : ''),
      time?.items?.length ? h('ul', { class: 'plain-list time-list' }, time.items.map((e) => h('li', {}, `${e.worked_on} · ${e.performer.full_name} · ${e.minutes} ${t('work.min')}${e.note ? ` · ${e.note}` : ''}`))) : null,
      h('form', { class: 'time-form', onsubmit: addTime },
        h('div', { class: 'form-row' },
          field(t('work.minutes'), h('input', { name: 'minutes', type: 'number', min: 1, max: 1440, inputmode: 'numeric', required: true })),
          field(t('work.note'), h('input', { name: 'note', type: 'text', maxlength: 2000 }))),
        button(t('work.add_time'), null, { kind: 'secondary', type: 'submit' })));
  }

  return { element: root, refresh, redraw };
}
