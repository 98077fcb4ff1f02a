// The notification feed: what happened to my work (new in my queue, given to me, returned
// with the checker's reason, the client replied, a postponed task is back). The unread
// count is on the nav; opening a line marks it read.

import { OfflineError, query, request } from './api.js';
import { h, replace } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { hasRole, session } from './session.js';
import { button, errorBox, offlineNote, pageTitle } from './ui.js';

const POLL_MS = 30000;
let unread = 0;
let timer = null;
let onCount = null;

export function unreadCount() {
  return unread;
}

function setUnread(n, redraw = true) {
  const changed = n !== unread;
  unread = n;
  if (changed && redraw && onCount) onCount();
}

export async function refreshUnread() {
  if (!session.user || !hasRole('engineer', 'checker') || !navigator.onLine) return;
  try {
    const { data, cachedAt } = await request(`/api/me/feed${query({ limit: 1 })}`);
    if (!cachedAt && data) setUnread(data.unread);
  } catch {
    /* offline or logged out: the count waits */
  }
}

/** Keep the nav's unread count fresh; `redraw` repaints the nav when it changes. */
export function startFeedPolling(redraw) {
  onCount = redraw;
  clearInterval(timer);
  if (!hasRole('engineer', 'checker')) return;
  refreshUnread();
  timer = setInterval(refreshUnread, POLL_MS);
  window.addEventListener('hashchange', refreshUnread);
}

function line(item) {
  const what = t(`feed.kind.${item.kind}`, { actor: item.actor || t('common.system') });
  return h('li', { class: `feed-item${item.read ? '' : ' unread'}`, dataset: { kind: item.kind, feedId: String(item.id) } },
    h('a', { href: `#/task/${item.task_id}`, class: 'feed-link', dataset: { taskId: String(item.task_id) } },
      h('span', { class: 'feed-what' }, item.read ? null : h('span', { class: 'dot', 'aria-hidden': 'true' }), what),
      h('span', { class: 'feed-task' }, `#${item.number} ${item.title}`),
      item.reason ? h('span', { class: 'feed-reason' }, t('feed.reason', { reason: item.reason })) : null,
      item.text ? h('span', { class: 'feed-text' }, `«${item.text}»`) : null,
      h('span', { class: 'feed-at' }, formatDateTime(item.created_at), item.read ? '' : ` · ${t('feed.new')}`)));
}

async function markRead(ids) {
  try {
    const { data } = await request('/api/me/feed/read', { method: 'POST', body: ids ? { ids } : {} });
    setUnread(data.unread);
  } catch {
    /* offline: stays unread until next time */
  }
}

export async function renderFeed(main, { isCurrent }) {
  const draw = async () => {
    let page = null;
    let cachedAt = null;
    let error = null;
    try {
      const resp = await request(`/api/me/feed${query({ limit: 100 })}`);
      page = resp.data;
      cachedAt = resp.cachedAt;
    } catch (err) {
      error = err instanceof OfflineError ? { code: 'offline' } : err;
    }
    if (!isCurrent()) return;
    if (page && !cachedAt) setUnread(page.unread);
    const items = page?.items || [];
    const list = items.length
      ? h('ol', { class: 'feed', id: 'feed-list' }, items.map(line))
      : h('p', { class: 'empty' }, t('feed.empty'));
    list.addEventListener?.('click', (event) => {
      const li = event.target.closest('.feed-item.unread');
      if (li) markRead([Number(li.dataset.feedId)]);
    });
    replace(main,
      pageTitle(t('feed.title'), page?.unread ? button(t('feed.mark_all'), async () => {
        await markRead(null);
        await draw();
      }, { kind: 'ghost', name: 'mark-all-read' }) : null),
      error ? errorBox(error, { title: t('common.failed') }) : null,
      offlineNote(cachedAt),
      list);
  };
  await draw();
}
