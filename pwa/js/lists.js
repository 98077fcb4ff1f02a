// Lists: the engineer's queue, the checker's visits to check, everyone's task search.

import { OfflineError, get, query, request } from './api.js';
import { replace, field, h } from './dom.js';
import { language, t } from './i18n.js';
import * as outbox from './outbox.js';
import { session, template, templateName } from './session.js';
import { STATUSES, predictAfterQueued } from './workflow.js';
import { button, errorBox, offlineNote, pageTitle, taskList } from './ui.js';
import { navigate } from './app.js';

/** Tasks as they will be once this device's waiting actions reach the server. */
async function withPending(tasks) {
  const waiting = (await outbox.entries()).filter((e) => e.state === 'pending');
  const pendingIds = new Set(waiting.map((e) => e.taskId));
  const predicted = tasks.map((task) => {
    const mine = waiting.filter((e) => e.taskId === task.id);
    return mine.length ? predictAfterQueued(task, mine, { template: template(task.template), me: session.user }) : task;
  });
  return { tasks: predicted, pendingIds };
}

async function load(path) {
  try {
    const resp = await request(path);
    return { page: resp.data, cachedAt: resp.cachedAt };
  } catch (err) {
    if (err instanceof OfflineError) return { error: { code: 'offline' } };
    return { error: err };
  }
}

const PRIORITY_RANK = { urgent: 0, high: 1, normal: 2, low: 3 };

/** Soonest due first (no due time last), then the more urgent, then the newer. */
export function byDue(a, b) {
  const da = a.due_resolution_at ? Date.parse(a.due_resolution_at) : Infinity;
  const db = b.due_resolution_at ? Date.parse(b.due_resolution_at) : Infinity;
  if (da !== db) return da - db;
  const pa = PRIORITY_RANK[a.priority] ?? 2;
  const pb = PRIORITY_RANK[b.priority] ?? 2;
  return pa !== pb ? pa - pb : b.id - a.id;
}

/** Where the phone is, only if the person already lets the app know (never asks here). */
async function whereAmI() {
  try {
    if (!navigator.geolocation || !navigator.permissions) return null;
    const status = await navigator.permissions.query({ name: 'geolocation' });
    if (status.state !== 'granted') return null;
    return await new Promise((resolve) => {
      navigator.geolocation.getCurrentPosition(
        (pos) => resolve({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
        () => resolve(null),
        { timeout: 5000, maximumAge: 120000 },
      );
    });
  } catch {
    return null;
  }
}

/** Keep my tasks' cards on the device (cache.js) so they open offline too. */
function prefetch(tasks) {
  if (!navigator.onLine) return;
  for (const task of tasks.slice(0, 20)) request(`/api/tasks/${task.id}`).catch(() => {});
}

function refreshButton(onclick) {
  return button(t('common.refresh'), onclick, { kind: 'ghost' });
}

export async function renderQueue(main, { isCurrent }) {
  let here = null;
  let prefetched = false;
  const draw = async () => {
    const { page, cachedAt, error } = await load(`/api/tasks${query({ queue: 'mine', sort: 'due', limit: 200 })}`);
    if (!isCurrent()) return;
    const body = [];
    if (error) body.push(errorBox(error, { title: t('common.failed') }));
    if (page) {
      const { tasks, pendingIds } = await withPending(page.items);
      const mine = tasks.filter((task) => task.assignee?.id === session.user.id).sort(byDue);
      const queued = tasks.filter((task) => !task.assignee).sort(byDue);
      if (!cachedAt && !prefetched) {
        prefetched = true;
        prefetch(mine);
      }
      body.push(
        offlineNote(cachedAt),
        h('section', { 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, t('queue.mine'), ` (${mine.length})`),
          taskList(mine, { empty: t('queue.mine_empty'), pendingIds, here })),
        h('section', { 'aria-labelledby': 'queue-h' }, h('h2', { id: 'queue-h' }, t('queue.group'), ` (${queued.length})`),
          taskList(queued, { empty: t('queue.group_empty'), pendingIds, here })),
      );
    }
    if (!isCurrent()) return; // the outbox was read meanwhile: another screen may be up now
    replace(main, pageTitle(t('queue.title'), refreshButton(draw)), ...body);
  };
  await draw();
  whereAmI().then((point) => {
    if (point && isCurrent()) {
      here = point;
      draw();
    }
  });
  return outbox.onChange(() => isCurrent() && draw());
}

export async function renderCheck(main, { isCurrent }) {
  const draw = async () => {
    const { page, cachedAt, error } = await load(`/api/tasks${query({ status: 'done', limit: 200 })}`);
    if (!isCurrent()) return;
    const body = [];
    if (error) body.push(errorBox(error, { title: t('common.failed') }));
    if (page) {
      const { tasks, pendingIds } = await withPending(page.items);
      body.push(offlineNote(cachedAt), h('p', { class: 'muted' }, t('check.lead')), taskList(tasks, { empty: t('check.empty'), pendingIds }));
    }
    if (!isCurrent()) return;
    replace(main, pageTitle(t('check.title'), refreshButton(draw)), ...body);
  };
  await draw();
  return outbox.onChange(() => isCurrent() && draw());
}

let refocus = null;

export async function renderTasks(main, { params, isCurrent }) {
  const status = h('select', { name: 'status' },
    h('option', { value: '' }, t('filters.any_status')),
    STATUSES.map((s) => h('option', { value: s, selected: params.status === s }, t(`status.${s}`))));
  const tpl = h('select', { name: 'template' },
    h('option', { value: '' }, t('filters.any_template')),
    session.templates.map((x) => h('option', { value: x.code, selected: params.template === x.code }, templateName(x.code))));
  const q = h('input', { name: 'q', type: 'search', value: params.q || '', placeholder: t('filters.search_placeholder'), enterkeyhint: 'search' });
  const office = session.user.roles.some((r) => ['office', 'admin', 'checker'].includes(r));
  const [users, counterparties] = office
    ? await Promise.all([get('/api/users').catch(() => []), get('/api/counterparties').catch(() => [])])
    : [[], []];
  if (!isCurrent()) return;
  const assignee = h('select', { name: 'assignee' }, h('option', { value: '' }, t('filters.anyone')),
    users.filter((u) => u.roles.some((r) => r !== 'client')).map((u) => h('option', { value: String(u.id), selected: params.assignee === String(u.id) }, u.full_name)));
  const counterparty = h('select', { name: 'counterparty' }, h('option', { value: '' }, t('filters.any_counterparty')),
    counterparties.map((c) => h('option', { value: String(c.id), selected: params.counterparty === String(c.id) }, c.name)));
  const from = h('input', { type: 'date', name: 'from', value: params.from || '' });
  const to = h('input', { type: 'date', name: 'to', value: params.to || '' });
  const overdue = h('input', { type: 'checkbox', name: 'overdue', id: 'filter-overdue', checked: params.overdue === 'true' });
  const sort = h('select', { name: 'sort' }, ['-id', 'due', 'priority'].map((v) => h('option', { value: v, selected: (params.sort || '-id') === v }, t(`filters.sort_${v.replace('-', '')}`))));
  const current = () => ({
    status: status.value, template: tpl.value, q: q.value.trim(), assignee: assignee.value, counterparty: counterparty.value,
    from: from.value, to: to.value, overdue: overdue.checked ? 'true' : '', sort: sort.value === '-id' ? '' : sort.value,
  });
  const apply = (event) => {
    event?.preventDefault();
    // The screen is rebuilt for the new filters: keep the keyboard where it was.
    refocus = document.activeElement?.name || null;
    navigate(`#/tasks${query(current())}`);
  };
  for (const control of [status, tpl, assignee, counterparty, from, to, overdue, sort]) control.addEventListener('change', apply);
  const form = h('form', { class: 'filters', role: 'search', onsubmit: apply },
    field(t('filters.status'), status), field(t('filters.template'), tpl), field(t('filters.search'), q),
    office ? [field(t('filters.assignee'), assignee), field(t('filters.counterparty'), counterparty),
      field(t('filters.from'), from), field(t('filters.to'), to),
      h('div', { class: 'check' }, overdue, h('label', { for: overdue.id }, t('filters.overdue')))] : null,
    field(t('filters.sort'), sort),
    h('button', { type: 'submit', class: 'btn btn-secondary', name: 'apply' }, t('filters.apply')));
  const results = h('div', { id: 'task-results', 'aria-live': 'polite' });
  // Period in the company's day: local midnight to the next midnight, with the offset.
  const dayStart = (value) => (value ? new Date(`${value}T00:00:00`).toISOString() : undefined);
  const dayEnd = (value) => (value ? new Date(new Date(`${value}T00:00:00`).getTime() + 86400000).toISOString() : undefined);
  const filters = {
    status: params.status, template: params.template, q: params.q, assignee: params.assignee, counterparty: params.counterparty,
    created_from: dayStart(params.from), created_to: dayEnd(params.to), overdue: params.overdue, sort: params.sort,
  };
  const exportLink = (kind) => h('a', { class: 'btn btn-ghost', id: `export-${kind}`, href: `/api/tasks/export.${kind}${query({ ...filters, lang: language() })}`, download: `tasks.${kind}` }, t(`tasks.export_${kind}`));
  const exports = session.user.roles.some((r) => ['office', 'admin'].includes(r)) ? h('div', { class: 'actions-inline exports' }, exportLink('csv'), exportLink('xlsx')) : null;
  replace(main, pageTitle(t('tasks.title'), exports), form, results);
  if (refocus) form.querySelector(`[name="${refocus}"]`)?.focus();
  refocus = null;

  const base = { ...filters, limit: 50 };
  let items = [];
  const more = async (cursor) => {
    const { page, cachedAt, error } = await load(`/api/tasks${query({ ...base, cursor })}`);
    if (!isCurrent()) return;
    if (error) {
      replace(results, errorBox(error, { title: t('common.failed') }));
      return;
    }
    items = items.concat(page.items);
    const { tasks, pendingIds } = await withPending(items);
    replace(results, 
      offlineNote(cachedAt),
      h('p', { class: 'muted' }, t('tasks.shown', { n: tasks.length })),
      taskList(tasks, { empty: t('tasks.empty'), pendingIds }),
      page.next_cursor ? button(t('tasks.more'), () => more(page.next_cursor), { kind: 'secondary' }) : null,
    );
  };
  await more(undefined);
}
