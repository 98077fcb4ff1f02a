// The demo's mail catcher (admins): with no SMTP server configured, outgoing mail is kept
// on the server (GET /api/dev/mail) instead of dropped; read it here.

import { get } from './api.js';
import { h, replace } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { errorBox, pageTitle } from './ui.js';

export async function renderDevMail(main, { isCurrent }) {
  let page = null;
  let error = null;
  try {
    page = await get('/api/dev/mail');
  } catch (err) {
    error = err;
  }
  if (!isCurrent()) return;
  const body = [];
  if (error) body.push(errorBox(error, { title: t('common.failed') }));
  else if (!page.enabled) body.push(h('p', { class: 'note', id: 'mail-off' }, t('mail.disabled')));
  else if (!page.items.length) body.push(h('p', { class: 'empty' }, t('mail.empty')));
  else {
    body.push(h('ol', { class: 'plain-list', id: 'mail-list' }, page.items.map((m) => h('li', { class: 'card mail' },
      h('details', {},
        h('summary', {}, h('strong', {}, m.subject), h('br'), h('span', { class: 'muted' }, t('mail.to', { to: m.recipient }), ' · ', formatDateTime(m.created_at))),
        h('p', { class: 'muted' }, t('mail.from', { from: m.sender })),
        h('pre', { class: 'pre mail-body' }, m.body_text))))));
  }
  replace(main, pageTitle(t('mail.title')), h('p', { class: 'muted' }, t('mail.lead')), ...body);
}
