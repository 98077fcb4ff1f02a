// Pieces shared by the screens.

import { h } from './dom.js';
import { formatDateTime, formatTime, t } from './i18n.js';
import { templateName } from './session.js';

export function statusChip(status, pending = false) {
  return h(
    'span',
    { class: `chip status-${status}` },
    t(`status.${status}`),
    pending ? h('span', { class: 'chip-pending' }, ` · ${t('outbox.pending_short')}`) : null,
  );
}

export function pageTitle(text, ...extra) {
  return h('div', { class: 'page-head' }, h('h1', { tabindex: '-1', id: 'page-title' }, text), ...extra);
}

export function offlineNote(cachedAt) {
  if (!cachedAt) return null;
  return h('p', { class: 'note note-offline', role: 'status' }, t('common.offline_copy', { time: formatTime(cachedAt) }));
}

/** An error from the server, said plainly: its detail, and who holds the task if known. */
export function errorBox(error, { title, actions = [] } = {}) {
  if (!error) return null;
  const lines = [];
  if (error.holder) lines.push(h('p', { class: 'holder' }, t('conflict.taken_by', { name: error.holder })));
  if (error.code === 'offline') lines.push(h('p', {}, t('common.offline_not_cached')));
  if (error.detail) lines.push(h('p', { class: 'detail' }, error.detail));
  return h(
    'div',
    { class: 'alert alert-error', role: 'alert' },
    title ? h('p', { class: 'alert-title' }, title) : null,
    lines,
    actions.some(Boolean) ? h('div', { class: 'actions-inline' }, actions) : null,
  );
}

export function infoBox(text, kind = 'info') {
  return h('div', { class: `alert alert-${kind}`, role: 'status' }, text);
}

/** Metres between two points (haversine); null without both. */
export function distanceM(from, site) {
  if (!from || site?.lat === null || site?.lat === undefined || site?.lon === null || site?.lon === undefined) return null;
  const rad = (x) => (x * Math.PI) / 180;
  const dLat = rad(site.lat - from.lat);
  const dLon = rad(site.lon - from.lon);
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(rad(from.lat)) * Math.cos(rad(site.lat)) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371000 * Math.asin(Math.sqrt(a));
}

function distanceText(m) {
  return m < 1000 ? t('task.distance_m', { m: Math.round(m / 10) * 10 }) : t('task.distance_km', { km: (m / 1000).toFixed(m < 10000 ? 1 : 0) });
}

/** Due time and priority (and distance) of a list card: what decides what comes first. */
function rowFacts(task, here) {
  const facts = [];
  if (task.priority && task.priority !== 'normal') facts.push(h('span', { class: `prio prio-${task.priority}` }, t(`priority.${task.priority}`)));
  if (task.due_resolution_at) {
    facts.push(h('span', { class: `due${task.overdue ? ' overdue' : ''}` }, t('task.due_short', { at: formatDateTime(task.due_resolution_at) }), task.overdue ? ` · ${t('task.overdue')}` : ''));
  }
  const m = distanceM(here, task.site);
  if (m !== null) facts.push(h('span', { class: 'distance' }, distanceText(m)));
  return facts.length ? h('span', { class: 'task-facts' }, facts) : null;
}

export function taskRow(task, { pending = false, here = null } = {}) {
  const where = [task.counterparty?.name, task.site?.address].filter(Boolean).join(' · ');
  return h(
    'li',
    { class: 'task-row' },
    h(
      'a',
      { href: `#/task/${task.id}`, class: 'task-link', dataset: { taskId: String(task.id) } },
      h(
        'span',
        { class: 'task-row-top' },
        h('span', { class: 'task-number' }, `#${task.number}`),
        statusChip(task.status, pending),
        h('span', { class: 'task-template' }, templateName(task.template)),
      ),
      h('span', { class: 'task-title' }, task.title),
      rowFacts(task, here),
      where ? h('span', { class: 'task-where' }, where) : null,
      h(
        'span',
        { class: 'task-meta' },
        task.assignee ? t('task.assignee_short', { name: task.assignee.full_name }) : t('task.unassigned'),
        ' · ',
        formatDateTime(task.created_at),
      ),
    ),
  );
}

export function taskList(tasks, { empty, pendingIds = new Set(), here = null } = {}) {
  if (!tasks.length) return h('p', { class: 'empty' }, empty || t('common.empty'));
  return h('ul', { class: 'task-list' }, tasks.map((task) => taskRow(task, { pending: pendingIds.has(task.id), here })));
}

export function button(label, onclick, { kind = 'secondary', type = 'button', disabled = false, name } = {}) {
  return h('button', { type, class: `btn btn-${kind}`, onclick, disabled, dataset: name ? { action: name } : undefined }, label);
}
