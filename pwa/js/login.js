import { ApiError, request } from './api.js';
import { replace, field, h } from './dom.js';
import { t } from './i18n.js';
import { homeRoute, navigate, startSession } from './app.js';

export function renderLogin(main) {
  const login = h('input', { name: 'login', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' });
  const password = h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true });
  const error = h('div', { class: 'form-error', role: 'alert', id: 'login-error' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block' }, t('login.submit'));

  async function onsubmit(event) {
    event.preventDefault();
    error.textContent = '';
    submit.disabled = true;
    try {
      const { data } = await request('/api/auth/login', {
        method: 'POST',
        body: { login: login.value.trim(), password: password.value },
      });
      await startSession(data.user);
      navigate(homeRoute());
    } catch (err) {
      error.textContent = err instanceof ApiError
        ? (err.status === 401 || err.status === 403 ? t('login.wrong') : err.detail)
        : t('login.offline');
      submit.disabled = false;
      password.select();
    }
  }

  replace(main, 
    h(
      'section',
      { class: 'login card' },
      h('h1', { tabindex: '-1', id: 'page-title' }, t('login.title')),
      h('p', { class: 'muted' }, t('login.lead')),
      h(
        'form',
        { onsubmit, novalidate: false, id: 'login-form' },
        field(t('login.login'), login),
        field(t('login.password'), password),
        error,
        submit,
      ),
    ),
  );
  login.focus();
}
