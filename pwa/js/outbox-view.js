// What this device still has to send, and what the server refused.

import { replace, h } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import * as outbox from './outbox.js';
import * as idb from './idb.js';
import { button, errorBox, infoBox, pageTitle } from './ui.js';

function label(entry) {
  const what = t(`action.${entry.action}`);
  if (entry.taskId) return h('a', { href: `#/task/${entry.taskId}` }, t('outbox.on_task', { action: what, id: entry.taskId }));
  return what;
}

export async function renderOutbox(main, { isCurrent }) {
  const draw = async () => {
    const rows = await outbox.entries();
    if (!isCurrent()) return;
    const list = rows.length
      ? h('ol', { class: 'outbox-list', id: 'outbox-list' }, rows.map((entry) => h('li', { class: `outbox-item outbox-${entry.state}` },
        h('p', {}, h('strong', {}, label(entry)), ' · ', formatDateTime(entry.createdAt), ' · ',
          h('span', { class: 'badge' }, t(`outbox.state_${entry.state}`))),
        entry.state === 'conflict'
          ? errorBox(entry.error, {
            actions: [
              entry.action === 'accept' && entry.error?.holder ? null : button(t('conflict.retry'), () => outbox.retry(entry.seq)),
              button(t('conflict.discard'), () => outbox.discard(entry.seq), { kind: 'ghost' }),
            ],
          })
          : null,
        entry.state === 'held' ? infoBox(t(outbox.heldTextKey(entry))) : null)))
      : h('p', { class: 'empty' }, t('outbox.empty'));
    replace(main, 
      pageTitle(t('outbox.title')),
      h('p', { class: 'muted' }, navigator.onLine ? t('outbox.lead_online') : t('outbox.lead_offline')),
      idb.persistent ? null : infoBox(t('outbox.memory_only'), 'warning'),
      navigator.onLine && rows.some((r) => r.state === 'pending') ? button(t('outbox.send_now'), () => outbox.flush(), { kind: 'primary' }) : null,
      list,
    );
  };
  await draw();
  const off = outbox.onChange(() => isCurrent() && draw());
  const net = () => isCurrent() && draw();
  window.addEventListener('online', net);
  window.addEventListener('offline', net);
  return () => {
    off();
    window.removeEventListener('online', net);
    window.removeEventListener('offline', net);
  };
}
