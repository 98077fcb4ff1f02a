// Who I am, language, notifications, logout.

import { replace, h } from './dom.js';
import { LANGUAGES, language, setLanguage, t } from './i18n.js';
import * as outbox from './outbox.js';
import { session } from './session.js';
import { pageTitle } from './ui.js';
import { endSession, refreshAll } from './app.js';
import { pushState, subscribe } from './push.js';

export async function renderProfile(main, { isCurrent }) {
  const user = session.user;
  const push = await pushState();
  if (!isCurrent()) return;
  const status = h('p', { role: 'status', class: 'note', id: 'push-status' });
  const langGroup = h('fieldset', { class: 'lang-choice' },
    h('legend', {}, t('profile.language')),
    LANGUAGES.map((code) => {
      const input = h('input', { type: 'radio', name: 'language', value: code, id: `lang-${code}`, checked: language() === code });
      input.addEventListener('change', async () => {
        await setLanguage(code);
        refreshAll();
      });
      return h('div', { class: 'check' }, input, h('label', { for: input.id, lang: code }, t(`lang.${code}`)));
    }));
  let pushPart = null;
  if (push === 'default' || push === 'granted') {
    pushPart = h('div', {},
      h('button', {
        type: 'button',
        class: 'btn btn-secondary',
        onclick: async () => {
          const outcome = await subscribe({ ask: true });
          status.textContent = t(`push.${outcome}`);
        },
      }, t('push.enable')),
      status);
  } else {
    pushPart = h('p', { class: 'note' }, t(`push.${push}`));
  }
  replace(main, 
    pageTitle(t('profile.title')),
    h('section', { class: 'card' },
      h('p', {}, h('strong', { id: 'me-name' }, user.full_name), ` (${user.login})`),
      h('p', { class: 'muted' }, t('profile.roles'), ': ', user.roles.map((r) => t(`role.${r}`)).join(', '))),
    h('section', { class: 'card' }, langGroup),
    h('section', { class: 'card' }, h('h2', {}, t('push.title')), pushPart),
    h('section', { class: 'card' },
      h('button', {
        type: 'button',
        class: 'btn btn-danger',
        id: 'logout',
        onclick: async () => {
          const { pending } = await outbox.summary();
          if (pending && !window.confirm(t('profile.logout_pending', { n: pending }))) return;
          await endSession();
        },
      }, t('profile.logout'))),
  );
}
