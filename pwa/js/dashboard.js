// The office dashboard. Counts by status are computed here from GET /api/tasks (the
// newest tasks, up to MAX_TASKS). The created-vs-completed chart and the open-work totals
// come from GET /api/dashboard when the server lists it (the reports work), else the chart
// is computed from the same tasks; the screen says which.

import { OfflineError, get, query, request } from './api.js';
import { replace, h, svg } from './dom.js';
import { language, t } from './i18n.js';
import { hasEndpoint } from './features.js';
import { STATUSES } from './workflow.js';
import { errorBox, offlineNote, pageTitle } from './ui.js';

const MAX_TASKS = 1000;
const DAYS = 14;

async function allTasks() {
  let items = [];
  let cursor;
  let cachedAt = null;
  let truncated = false;
  for (;;) {
    const resp = await request(`/api/tasks${query({ limit: 200, cursor })}`);
    cachedAt = cachedAt || resp.cachedAt;
    items = items.concat(resp.data.items);
    cursor = resp.data.next_cursor;
    if (!cursor) break;
    if (items.length >= MAX_TASKS) {
      truncated = true;
      break;
    }
  }
  return { items, cachedAt, truncated };
}

/** The server's dashboard, or null when it is not deployed (or answers in another shape). */
async function serverDashboard() {
  if (!(await hasEndpoint('get', '/api/dashboard'))) return null;
  try {
    const data = await get('/api/dashboard');
    return Array.isArray(data?.per_day) ? data : null;
  } catch {
    return null;
  }
}

function dayKey(date) {
  const d = new Date(date);
  return `${d.getFullYear()}-${String(d.getMonth() + 1).padStart(2, '0')}-${String(d.getDate()).padStart(2, '0')}`;
}

function daysFromTasks(items) {
  const days = [];
  const today = new Date();
  for (let i = DAYS - 1; i >= 0; i -= 1) {
    const d = new Date(today.getFullYear(), today.getMonth(), today.getDate() - i);
    days.push({ key: dayKey(d), date: d, created: 0, completed: 0 });
  }
  const index = Object.fromEntries(days.map((d) => [d.key, d]));
  for (const task of items) {
    const created = index[dayKey(task.created_at)];
    if (created) created.created += 1;
    if (task.completed_at) {
      const completed = index[dayKey(task.completed_at)];
      if (completed) completed.completed += 1;
    }
  }
  return days;
}

function daysFromServer(perDay) {
  // "2026-11-24" is a calendar day: build it in local time so the label shows that day.
  return perDay.map((p) => {
    const [y, m, d] = String(p.day).split('-').map(Number);
    return { date: new Date(y, m - 1, d), created: p.created, completed: p.completed };
  });
}

function chart(days) {
  const max = Math.max(1, ...days.map((d) => Math.max(d.created, d.completed)));
  const width = 700;
  const height = 260;
  const left = 36;
  const bottom = 36;
  const top = 16;
  const plotH = height - bottom - top;
  const slot = (width - left - 8) / days.length;
  const bar = Math.max(4, slot / 2 - 4);
  const y = (n) => top + plotH - (n / max) * plotH;
  const locale = language() === 'ru' ? 'ru-RU' : 'en-GB';
  const ticks = [0, Math.ceil(max / 2), max].filter((v, i, a) => a.indexOf(v) === i);
  const summary = t('dashboard.chart_summary', {
    created: days.reduce((s, d) => s + d.created, 0),
    completed: days.reduce((s, d) => s + d.completed, 0),
    days: days.length,
  });
  return h('figure', { class: 'chart' },
    svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-labelledby': 'chart-title chart-desc', id: 'chart' },
      svg('title', { id: 'chart-title' }, t('dashboard.chart_title')),
      svg('desc', { id: 'chart-desc' }, summary),
      ticks.map((v) => [
        svg('line', { x1: left, x2: width - 4, y1: y(v), y2: y(v), class: 'grid' }),
        svg('text', { x: left - 6, y: y(v) + 4, 'text-anchor': 'end', class: 'axis' }, String(v)),
      ]),
      days.map((d, i) => {
        const x = left + i * slot + 2;
        const label = d.date.toLocaleDateString(locale, { day: '2-digit', month: '2-digit' });
        return svg('g', {},
          svg('rect', { x, y: y(d.created), width: bar, height: top + plotH - y(d.created), class: 'bar-created' },
            svg('title', {}, `${label}: ${t('dashboard.created')} ${d.created}`)),
          svg('rect', { x: x + bar + 2, y: y(d.completed), width: bar, height: top + plotH - y(d.completed), class: 'bar-completed' },
            svg('title', {}, `${label}: ${t('dashboard.completed')} ${d.completed}`)),
          i % Math.ceil(days.length / 7) === 0 ? svg('text', { x: x + bar, y: height - bottom + 16, 'text-anchor': 'middle', class: 'axis' }, label) : null);
      })),
    h('figcaption', {},
      h('span', { class: 'legend legend-created' }, t('dashboard.created')),
      h('span', { class: 'legend legend-completed' }, t('dashboard.completed')),
      h('span', { class: 'muted' }, summary)));
}

function totalsCards(totals) {
  const names = ['open', 'overdue', 'in_progress', 'due_today', 'unassigned'];
  return h('ul', { class: 'counts counts-totals', id: 'open-totals' },
    names.filter((n) => n in totals).map((n) => h('li', { class: 'count' },
      h('span', { class: `count-box total-${n}` }, h('span', { class: 'count-n' }, String(totals[n])), h('span', { class: 'count-label' }, t(`dashboard.total_${n}`))))));
}

function breakdown(id, title, rows) {
  if (!rows?.length) return null;
  const names = ['open', 'overdue', 'in_progress', 'due_today', 'unassigned'];
  return h('section', { class: 'card table-card', 'aria-labelledby': `${id}-h` },
    h('h2', { id: `${id}-h` }, title),
    h('div', { class: 'table-scroll' },
      h('table', { id },
        h('thead', {}, h('tr', {}, h('th', { scope: 'col' }, t('dashboard.name')), names.map((n) => h('th', { scope: 'col' }, t(`dashboard.total_${n}`))))),
        h('tbody', {}, rows.map((row) => h('tr', {}, h('th', { scope: 'row' }, row.name), names.map((n) => h('td', {}, String(row.counts?.[n] ?? 0)))))))));
}

export async function renderDashboard(main, { isCurrent }) {
  replace(main, pageTitle(t('dashboard.title')), h('p', { class: 'loading' }, t('common.loading')));
  let data;
  let server;
  try {
    [data, server] = await Promise.all([allTasks(), serverDashboard()]);
  } catch (err) {
    if (!isCurrent()) return;
    replace(main, pageTitle(t('dashboard.title')), errorBox(err instanceof OfflineError ? { code: 'offline' } : err, { title: t('common.failed') }));
    return;
  }
  if (!isCurrent()) return;
  const counts = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  for (const task of data.items) counts[task.status] = (counts[task.status] || 0) + 1;
  const days = server ? daysFromServer(server.per_day) : daysFromTasks(data.items);
  replace(main,
    pageTitle(t('dashboard.title')),
    offlineNote(data.cachedAt),
    server?.totals ? h('section', { 'aria-labelledby': 'totals-h' }, h('h2', { id: 'totals-h' }, t('dashboard.open_work')), totalsCards(server.totals)) : null,
    h('section', { 'aria-labelledby': 'statuses-h' },
      h('h2', { id: 'statuses-h' }, t('dashboard.by_status')),
      h('p', { class: 'note' }, t(data.truncated ? 'dashboard.source_truncated' : 'dashboard.source', { n: data.items.length })),
      h('ul', { class: 'counts', id: 'status-counts' },
        STATUSES.map((s) => h('li', { class: 'count' },
          h('a', { href: `#/tasks?status=${s}`, class: `status-${s}` }, h('span', { class: 'count-n' }, String(counts[s])), h('span', { class: 'count-label' }, t(`status.${s}`))))))),
    h('section', { class: 'card', 'aria-labelledby': 'chart-h' },
      h('h2', { id: 'chart-h' }, t('dashboard.chart_title')),
      chart(days),
      h('p', { class: 'note', id: 'chart-source' }, server ? t('dashboard.chart_from_server') : t('dashboard.chart_from_tasks'))),
    server ? breakdown('by-group', t('dashboard.by_group'), server.by_group) : null,
    server ? breakdown('by-engineer', t('dashboard.by_engineer'), server.by_engineer) : null,
  );
}
