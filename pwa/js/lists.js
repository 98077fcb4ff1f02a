// Lists: the engineer's queue, the checker's visits to check, everyone's task search.

import { OfflineError, query, request } from './api.js';
import { replace, field, h } from './dom.js';
import { t } from './i18n.js';
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

function refreshButton(onclick) {
  return button(t('common.refresh'), onclick, { kind: 'ghost' });
}

export async function renderQueue(main, { isCurrent }) {
  const draw = async () => {
    const { page, cachedAt, error } = await load(`/api/tasks${query({ queue: 'mine', limit: 200 })}`);
    if (!isCurrent()) return;
    const body = [];
    if (error) body.push(errorBox(error, { title: t('common.failed') }));
    if (page) {
      const { tasks, pendingIds } = await withPending(page.items);
      const mine = tasks.filter((task) => task.assignee?.id === session.user.id);
      const queued = tasks.filter((task) => !task.assignee);
      body.push(
        offlineNote(cachedAt),
        h('section', { 'aria-labelledby': 'mine-h' }, h('h2', { id: 'mine-h' }, t('queue.mine'), ` (${mine.length})`),
          taskList(mine, { empty: t('queue.mine_empty'), pendingIds })),
        h('section', { 'aria-labelledby': 'queue-h' }, h('h2', { id: 'queue-h' }, t('queue.group'), ` (${queued.length})`),
          taskList(queued, { empty: t('queue.group_empty'), pendingIds })),
      );
    }
    replace(main, pageTitle(t('queue.title'), refreshButton(draw)), ...body);
  };
  await draw();
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
  const apply = (event) => {
    event?.preventDefault();
    // The screen is rebuilt for the new filters: keep the keyboard where it was.
    refocus = document.activeElement?.name || null;
    navigate(`#/tasks${query({ status: status.value, template: tpl.value, q: q.value.trim() })}`);
  };
  status.addEventListener('change', apply);
  tpl.addEventListener('change', apply);
  const form = h('form', { class: 'filters', role: 'search', onsubmit: apply },
    field(t('filters.status'), status), field(t('filters.template'), tpl), field(t('filters.search'), q),
    h('button', { type: 'submit', class: 'btn btn-secondary', name: 'apply' }, t('filters.apply')));
  const results = h('div', { id: 'task-results', 'aria-live': 'polite' });
  replace(main, pageTitle(t('tasks.title')), form, results);
  if (refocus) form.querySelector(`[name="${refocus}"]`)?.focus();
  refocus = null;

  const base = { status: params.status, template: params.template, q: params.q, limit: 50 };
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
