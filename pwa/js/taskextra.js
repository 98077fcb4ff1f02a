// Parts of the task card added for issue 15, kept apart from task.js (which others edit):
// the checker's reason at the top of a returned visit, what a checker needs to approve on
// one screen (signature, check-in time and distance), the work order and completion act,
// the office's edit form (task, counterparty, site, contact), history in words.

import { get, query, request } from './api.js';
import { field, h, replace } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { hasRole } from './session.js';

/** History kinds in words; an unknown kind still reads as words, never as a code. */
export function eventLabel(kind) {
  const key = `event.${kind}`;
  const text = t(key);
  if (text !== key) return text;
  const words = String(kind).replace(/_/g, ' ');
  return words.charAt(0).toUpperCase() + words.slice(1);
}

/** What a `field_changed`, spec or watcher event says beyond its kind. */
export function eventDetails(event) {
  const d = event.data || {};
  const parts = [];
  if (event.kind === 'field_changed' && d.field) {
    const name = t(`fields.${d.field}`) === `fields.${d.field}` ? d.field : t(`fields.${d.field}`);
    const show = (v) => (v === null || v === undefined || v === '' ? '—' : typeof v === 'object' ? (v.name || JSON.stringify(v)) : String(v));
    parts.push(`${name}: ${show(d.old_name ?? d.old)} → ${show(d.new_name ?? d.new)}`);
  }
  if (event.kind.startsWith('spec_line_') && (d.name || d.line?.name)) parts.push(d.name || d.line.name);
  if (event.kind === 'signature_captured' && d.signer_name) parts.push(d.signer_name);
  if (event.kind.startsWith('watcher_') && (d.user || d.full_name)) parts.push(d.user || d.full_name);
  return parts;
}

/** A returned visit: the checker's reason first, where the engineer looks. */
export function returnedBanner(task, history) {
  if (!history || !['in_progress', 'accepted', 'en_route'].includes(task.status)) return null;
  const last = [...history].reverse().find((e) => ['returned', 'done', 'approved'].includes(e.kind));
  if (!last || last.kind !== 'returned') return null;
  return h('div', { class: 'alert alert-warning', role: 'alert', id: 'returned-banner' },
    h('p', { class: 'alert-title' }, t('task.returned_title', { name: last.actor?.full_name || t('common.system') })),
    h('p', { class: 'detail' }, last.data?.reason || ''));
}

/** Check-in time and distance, as a fact or a warning (a far check-in). */
export function checkinFacts(task) {
  if (!task.arrived_at) return null;
  const m = task.checkin_distance_m;
  const distance = m === null || m === undefined ? t('check.no_distance') : t('check.distance', { m: Math.round(m) });
  return h('p', { class: task.checkin_far ? 'checkin warn' : 'checkin', id: 'checkin-facts' },
    t('check.checkin_at', { at: formatDateTime(task.arrived_at) }), ' · ', distance,
    task.checkin_far ? h('strong', {}, ' ', t('check.far_warning')) : null);
}

/** The client's signature, when there is one (a 404 hides it). */
export function signatureImage(task) {
  const box = h('figure', { class: 'signature-view', id: 'signature-view', hidden: true },
    h('figcaption', {}, t('check.signature')));
  const img = h('img', { src: `/api/tasks/${task.id}/signature`, alt: t('check.signature_alt'), width: 300, height: 120 });
  img.addEventListener('load', () => { box.hidden = false; });
  img.addEventListener('error', () => { box.remove(); });
  box.prepend(img);
  return box;
}

/** The work order always; the completion act once the work is done. */
export function documentLinks(task) {
  const act = ['done', 'completed'].includes(task.status);
  return h('p', { class: 'doc-links' },
    h('a', { class: 'btn btn-ghost', href: `/api/tasks/${task.id}/work-order.pdf`, target: '_blank', rel: 'noopener', id: 'work-order-link' }, t('task.work_order')),
    act ? h('a', { class: 'btn btn-ghost', href: `/api/tasks/${task.id}/completion-act.pdf`, target: '_blank', rel: 'noopener', id: 'act-link' }, t('task.completion_act')) : null);
}

function localInput(value) {
  if (!value) return '';
  const d = new Date(value);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}T${pad(d.getHours())}:${pad(d.getMinutes())}`;
}

/** The office's edit form (PATCH /api/tasks/{id}); `onSaved(task)` after a change. */
export function editForm(task, { onSaved }) {
  if (!hasRole('office', 'admin') || ['completed', 'cancelled'].includes(task.status)) return null;
  const title = h('input', { name: 'edit_title', id: 'edit-title', value: task.title, maxlength: 500 });
  const description = h('textarea', { name: 'edit_description', id: 'edit-description', rows: 3 });
  description.value = task.description || '';
  const priority = h('select', { name: 'edit_priority', id: 'edit-priority' },
    ['low', 'normal', 'high', 'urgent'].map((p) => h('option', { value: p, selected: task.priority === p }, t(`priority.${p}`))));
  const due = h('input', { type: 'datetime-local', name: 'edit_due', id: 'edit-due', value: localInput(task.due_resolution_at) });
  const counterparty = h('select', { name: 'edit_counterparty', id: 'edit-counterparty' }, h('option', { value: '' }, t('common.none')));
  const site = h('select', { name: 'edit_site', id: 'edit-site' }, h('option', { value: '' }, t('common.none')));
  const contact = h('select', { name: 'edit_contact', id: 'edit-contact' }, h('option', { value: '' }, t('common.none')));
  const result = h('div', { id: 'edit-result', 'aria-live': 'polite' });

  async function fillFor(cpId, keep) {
    replace(site, h('option', { value: '' }, t('common.none')));
    replace(contact, h('option', { value: '' }, t('common.none')));
    if (!cpId) return;
    const [sites, contacts] = await Promise.all([
      get(`/api/sites${query({ counterparty: cpId })}`).catch(() => []),
      get(`/api/contacts${query({ counterparty: cpId })}`).catch(() => []),
    ]);
    site.append(...sites.map((s) => h('option', { value: String(s.id), selected: keep && task.site?.id === s.id }, `${s.name} — ${s.address}`)));
    contact.append(...contacts.map((c) => h('option', { value: String(c.id), selected: keep && task.requester?.id === c.id }, c.name)));
  }
  let loaded = false;
  async function load() {
    if (loaded) return;
    loaded = true;
    const cps = await get('/api/counterparties').catch(() => []);
    counterparty.append(...cps.map((c) => h('option', { value: String(c.id), selected: task.counterparty?.id === c.id }, c.name)));
    await fillFor(task.counterparty?.id, true);
  }
  counterparty.addEventListener('change', () => fillFor(Number(counterparty.value) || null, false));

  const form = h('form', {
    class: 'form',
    id: 'edit-form',
    onsubmit: async (event) => {
      event.preventDefault();
      const body = {};
      if (title.value.trim() !== task.title) body.title = title.value.trim();
      if (description.value !== (task.description || '')) body.description = description.value;
      if (priority.value !== task.priority) body.priority = priority.value;
      const dueIso = due.value ? new Date(due.value).toISOString() : null;
      if ((dueIso || null) !== (task.due_resolution_at ? new Date(task.due_resolution_at).toISOString() : null)) body.due_resolution_at = dueIso;
      const cp = Number(counterparty.value) || null;
      if (cp !== (task.counterparty?.id ?? null)) body.counterparty_id = cp;
      const st = Number(site.value) || null;
      if (st !== (task.site?.id ?? null)) body.site_id = st;
      const ct = Number(contact.value) || null;
      if (ct !== (task.requester?.id ?? null) && (ct || task.requester?.kind !== 'user')) body.requester_contact_id = ct;
      if (!Object.keys(body).length) {
        replace(result, h('p', { class: 'muted' }, t('edit.nothing')));
        return;
      }
      try {
        const { data } = await request(`/api/tasks/${task.id}`, { method: 'PATCH', body, ifMatch: task.version });
        replace(result, h('p', { class: 'alert alert-success', role: 'status' }, t('edit.saved')));
        onSaved(data);
      } catch (err) {
        replace(result, h('div', { class: 'alert alert-error', role: 'alert' }, err?.detail || t('common.failed')));
      }
    },
  },
  field(t('create.title'), title), field(t('create.description'), description),
  field(t('create.priority'), priority), field(t('create.due'), due),
  field(t('task.counterparty'), counterparty), field(t('task.site'), site), field(t('task.requester'), contact),
  h('button', { type: 'submit', class: 'btn btn-primary', dataset: { action: 'save-edit' } }, t('edit.save')),
  result);
  const box = h('details', { class: 'card more', id: 'edit-box' }, h('summary', {}, t('edit.title')), form);
  box.addEventListener('toggle', () => { if (box.open) load(); });
  return box;
}
