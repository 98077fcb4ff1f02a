// Mail tasks that arrived without a counterparty (a sender nobody knew), each with a
// one-click fix: pick the counterparty, and the sender (contact) is linked to it and every
// such task of theirs gets it (PATCH /api/contacts/{id} + apply-counterparty); a task
// without a contact gets it by a task PATCH.

import { OfflineError, get, request } from './api.js';
import { h, replace } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { button, errorBox, infoBox, pageTitle, statusChip } from './ui.js';

export async function renderMissing(main, { isCurrent }) {
  let notice = null;
  const draw = async () => {
    let rows = null;
    let error = null;
    let counterparties = [];
    try {
      [rows, counterparties] = await Promise.all([get('/api/channels/email/missing-counterparty'), get('/api/counterparties')]);
    } catch (err) {
      error = err instanceof OfflineError ? { code: 'offline' } : err;
    }
    if (!isCurrent()) return;
    const tasks = rows ? await Promise.all(rows.map((r) => get(`/api/tasks/${r.task_id}`).catch(() => null))) : [];
    if (!isCurrent()) return;
    const options = () => [h('option', { value: '' }, t('common.choose')), counterparties.map((c) => h('option', { value: String(c.id) }, c.name))];
    const items = (rows || []).map((row, i) => {
      const task = tasks[i];
      const select = h('select', { name: `cp-${row.task_id}`, id: `missing-cp-${row.task_id}` }, options());
      const fix = async () => {
        if (!select.value) return;
        const cp = Number(select.value);
        try {
          if (row.contact_id) {
            await request(`/api/contacts/${row.contact_id}`, { method: 'PATCH', body: { counterparty_id: cp } });
            const { data } = await request(`/api/contacts/${row.contact_id}/apply-counterparty`, { method: 'POST' });
            notice = infoBox(t('missing.fixed', { n: data.task_ids.length }), 'success');
          } else {
            await request(`/api/tasks/${row.task_id}`, { method: 'PATCH', body: { counterparty_id: cp } });
            notice = infoBox(t('missing.fixed', { n: 1 }), 'success');
          }
        } catch (err) {
          notice = errorBox(err, { title: t('common.failed') });
        }
        await draw();
      };
      return h('li', { class: 'card missing-row', dataset: { taskId: String(row.task_id) } },
        h('p', {}, h('a', { href: `#/task/${row.task_id}` }, `#${row.number} ${row.title}`), ' ', statusChip(row.status)),
        h('p', { class: 'muted' }, task?.requester ? t('missing.from', { name: task.requester.name }) : t('missing.no_contact'), ' · ', formatDateTime(row.created_at)),
        h('div', { class: 'inline-form' },
          h('label', { for: select.id }, t('missing.pick')), select,
          button(row.contact_id ? t('missing.fix_contact') : t('missing.fix_task'), fix, { kind: 'primary', name: 'fix' })));
    });
    replace(main,
      pageTitle(t('missing.title')),
      h('p', { class: 'muted' }, t('missing.lead')),
      notice,
      error ? errorBox(error, { title: t('common.failed') }) : null,
      rows && !rows.length ? h('p', { class: 'empty', id: 'missing-empty' }, t('missing.empty')) : h('ul', { class: 'plain-list', id: 'missing-list' }, items));
  };
  await draw();
}
