// Boot, the shell (top bar, navigation, connection indicator) and the hash router.
// Hash routes keep every screen on "/", which the server and the service worker serve.

import { onUnauthorized, request } from './api.js';
import { clearAll as clearCopies } from './cache.js';
import { replace, h, toast } from './dom.js';
import { initI18n, language, setLanguage, t } from './i18n.js';
import * as outbox from './outbox.js';
import { hasRole, loadTemplates, session, setUser } from './session.js';
import { storage } from './storage.js';
import { renderLogin } from './login.js';
import { renderCheck, renderQueue, renderTasks } from './lists.js';
import { renderTask } from './task.js';
import { renderCreate } from './create.js';
import { renderDashboard } from './dashboard.js';
import { renderOutbox } from './outbox-view.js';
import { renderProfile } from './profile.js';
import { renderService } from './service.js';
import { renderFeed, startFeedPolling, unreadCount } from './feed.js';
import { renderMissing } from './missing.js';
import { renderDevMail } from './devmail.js';
import { renderBoard, renderRoute, startLocationSharing } from './dispatch.js';
import { icon } from './icons.js';
import { isClientOnly, renderPortal, renderPortalNew, renderPortalTask } from './portal.js';
import { renderArticle, renderArticleForm, renderKb } from './kb.js';

const API_CACHE = 'naryad-api';
const LAST_USER_KEY = 'naryad.lastUser';

const ROUTES = [
  { pattern: /^\/login$/, render: renderLogin, public: true },
  { pattern: /^\/queue$/, render: renderQueue },
  { pattern: /^\/check$/, render: renderCheck },
  { pattern: /^\/tasks$/, render: renderTasks },
  // #/tasks/ID too: the links in notifications use it.
  { pattern: /^\/tasks?\/(\d+)$/, render: (main, ctx) => (isClientOnly() ? renderPortalTask : renderTask)(main, ctx) },
  { pattern: /^\/new$/, render: renderCreate },
  { pattern: /^\/dashboard$/, render: renderDashboard },
  { pattern: /^\/outbox$/, render: renderOutbox },
  { pattern: /^\/me$/, render: renderProfile },
  { pattern: /^\/service$/, render: renderService },
  { pattern: /^\/feed$/, render: renderFeed },
  { pattern: /^\/missing$/, render: renderMissing },
  { pattern: /^\/mail$/, render: renderDevMail },
  { pattern: /^\/dispatch$/, render: renderBoard },
  { pattern: /^\/route$/, render: renderRoute },
  { pattern: /^\/portal$/, render: renderPortal },
  { pattern: /^\/portal\/new$/, render: renderPortalNew },
  { pattern: /^\/portal\/task\/(\d+)$/, render: renderPortalTask },
  { pattern: /^\/kb$/, render: renderKb },
  { pattern: /^\/kb\/new$/, render: renderArticleForm },
  { pattern: /^\/kb\/(\d+)$/, render: renderArticle },
  { pattern: /^\/kb\/(\d+)\/edit$/, render: renderArticleForm },
];

function navItems() {
  if (isClientOnly()) return [['#/portal', 'nav.portal'], ['#/portal/new', 'nav.portal_new'], ['#/kb', 'nav.kb'], ['#/me', 'nav.me']];
  const items = [];
  if (hasRole('engineer')) items.push(['#/queue', 'nav.queue']);
  if (hasRole('checker', 'admin')) items.push(['#/check', 'nav.check']);
  items.push(['#/tasks', 'nav.tasks']);
  if (hasRole('office', 'admin', 'engineer')) items.push(['#/new', 'nav.new']);
  if (hasRole('office', 'admin')) items.push(['#/dashboard', 'nav.dashboard']);
  if (hasRole('office', 'admin')) items.push(['#/service', 'service.nav']);
  if (hasRole('office', 'admin')) items.push(['#/missing', 'nav.missing']);
  if (hasRole('office', 'admin')) items.push(['#/dispatch', 'nav.dispatch']);
  if (hasRole('engineer')) items.push(['#/route', 'nav.route']);
  if (hasRole('engineer', 'checker')) items.push(['#/feed', 'nav.feed']);
  if (hasRole('admin')) items.push(['#/mail', 'nav.mail']);
  items.push(['#/kb', 'nav.kb']);
  items.push(['#/me', 'nav.me']);
  return items;
}

export function homeRoute() {
  if (isClientOnly()) return '#/portal';
  if (hasRole('engineer')) return '#/queue';
  if (hasRole('checker') && !hasRole('office', 'admin')) return '#/check';
  return '#/tasks';
}

// --- the shell --------------------------------------------------------------------------

let outboxState = { pending: 0, conflicts: 0, held: 0 };

function renderTopbar() {
  const bar = document.getElementById('topbar');
  bar.hidden = false;
  const online = navigator.onLine;
  const waiting = [];
  if (outboxState.pending) waiting.push(t('outbox.waiting', { n: outboxState.pending }));
  if (outboxState.conflicts) waiting.push(t('outbox.conflicts', { n: outboxState.conflicts }));
  if (outboxState.held) waiting.push(t('outbox.held', { n: outboxState.held }));
  const other = language() === 'ru' ? 'en' : 'ru';
  replace(bar, 
    h('a', { class: 'brand', href: session.user ? homeRoute() : '#/login' },
      h('img', { src: '/icons/icon-192.png', alt: '', width: 28, height: 28 }), h('span', { class: 'brand-text' }, t('app.name'))),
    h(
      'a',
      {
        class: `net ${online ? 'net-online' : 'net-offline'}${outboxState.conflicts ? ' net-conflict' : ''}`,
        href: '#/outbox',
        id: 'net-status',
        'aria-live': 'polite',
      },
      h('span', { class: 'net-dot', 'aria-hidden': 'true' }),
      h('span', { class: 'net-label' }, online ? t('net.online') : t('net.offline')),
      waiting.length ? h('span', { class: 'net-waiting', id: 'outbox-count' }, waiting.join(' · ')) : null,
    ),
    h(
      'button',
      {
        type: 'button',
        class: 'lang',
        id: 'lang-switch',
        lang: other,
        'aria-label': t('lang.switch_to'),
        onclick: async () => {
          await setLanguage(other);
          await refreshAll();
          document.getElementById('lang-switch')?.focus();
        },
      },
      other.toUpperCase(),
    ),
  );
}

function renderNav() {
  const nav = document.getElementById('nav');
  nav.setAttribute('aria-label', t('nav.label'));
  if (!session.user) {
    nav.hidden = true;
    return;
  }
  nav.hidden = false;
  const current = location.hash.split('?')[0];
  replace(nav, 
    h(
      'ul',
      {},
      navItems().map(([href, key]) => {
        const name = key.split('.')[1];
        const unread = name === 'feed' ? unreadCount() : 0;
        return h('li', {}, h('a', { href, class: 'nav-link', id: `nav-${name}`, 'aria-current': current === href ? 'page' : null },
          h('span', { class: 'nav-icon' }, icon(name),
            unread ? h('span', { class: 'nav-badge', id: 'feed-unread' }, unread > 99 ? '99+' : String(unread)) : null),
          h('span', { class: 'nav-text' }, t(key)),
          unread ? h('span', { class: 'visually-hidden' }, ` (${t('feed.unread', { n: unread })})`) : null));
      }),
    ),
  );
}

function renderShell() {
  renderTopbar();
  renderNav();
  document.querySelector('.skip-link').textContent = t('app.skip');
  document.title = t('app.name');
}

export function refreshAll() {
  renderShell();
  lastPath = null;
  return route();
}

// --- routing ----------------------------------------------------------------------------

let renderSeq = 0;
let cleanup = null;
let lastPath = null;

export function navigate(hash) {
  if (location.hash === hash) route();
  else location.hash = hash;
}

export async function route() {
  const [path, search] = (location.hash.replace(/^#/, '') || '/').split('?');
  if (!session.user && path !== '/login') {
    location.replace('#/login');
    return;
  }
  if (session.user && (path === '/' || path === '/login')) {
    location.replace(homeRoute());
    return;
  }
  const match = ROUTES.map((r) => ({ r, m: r.pattern.exec(path) })).find((x) => x.m);
  const main = document.getElementById('main');
  if (!match) {
    location.replace(session.user ? homeRoute() : '#/login');
    return;
  }
  renderSeq += 1;
  const seq = renderSeq;
  if (cleanup) cleanup();
  cleanup = null;
  renderNav();
  const params = Object.fromEntries(new URLSearchParams(search || ''));
  const fresh = lastPath !== path;
  lastPath = path;
  try {
    const result = await match.r.render(main, { id: match.m[1] ? Number(match.m[1]) : null, params, isCurrent: () => seq === renderSeq });
    if (seq !== renderSeq) return;
    if (typeof result === 'function') cleanup = result;
  } catch (err) {
    console.error(err);
    if (seq !== renderSeq) return;
    replace(main, h('div', { class: 'alert alert-error', role: 'alert' }, t('common.failed'), ' ', err?.detail || err?.message || String(err)));
  }
  if (fresh) document.getElementById('page-title')?.focus({ preventScroll: false });
}

// --- session ----------------------------------------------------------------------------

export async function startSession(user) {
  // Offline copies belong to whoever was logged in: another person starts clean.
  if (storage.get(LAST_USER_KEY) !== String(user.id)) {
    if ('caches' in window) await caches.delete(API_CACHE);
    await clearCopies();
  }
  storage.set(LAST_USER_KEY, String(user.id));
  setUser(user);
  outbox.setUser(user);
  await loadTemplates();
  renderShell();
  outbox.flush();
  startFeedPolling(renderNav);
  if (hasRole('engineer')) startLocationSharing();
  await shellReady();
  const { subscribe } = await import('./push.js');
  subscribe({ ask: false });
}

export async function endSession() {
  try {
    await request('/api/auth/logout', { method: 'POST' });
  } catch {
    /* offline or already expired: the local session ends anyway */
  }
  setUser(null);
  outbox.setUser(null);
  if ('caches' in window) await caches.delete(API_CACHE);
  await clearCopies();
  renderShell();
  navigate('#/login');
}

onUnauthorized(() => {
  if (!session.user) return;
  setUser(null);
  outbox.setUser(null);
  renderShell();
  toast(t('login.expired'));
  navigate('#/login');
});

// --- boot -------------------------------------------------------------------------------

/** The shell is cached (the worker is active) or a few seconds passed: after the first
 * login, going offline at once must still reopen the app. */
function shellReady(ms = 5000) {
  if (!('serviceWorker' in navigator)) return Promise.resolve();
  return Promise.race([navigator.serviceWorker.ready.catch(() => {}), new Promise((resolve) => setTimeout(resolve, ms))]);
}

async function registerServiceWorker() {
  if (!('serviceWorker' in navigator)) return;
  try {
    await navigator.serviceWorker.register('/sw.js', { scope: '/' });
  } catch (err) {
    console.warn('service worker not registered', err);
  }
}

async function boot() {
  // Registered first: the shell is cached while the user logs in.
  registerServiceWorker();
  await initI18n();
  document.getElementById('boot')?.remove();
  outbox.onChange((state) => {
    outboxState = state;
    renderTopbar();
  });
  const refreshNet = () => {
    renderTopbar();
    if (navigator.onLine) outbox.flush();
  };
  window.addEventListener('online', refreshNet);
  window.addEventListener('offline', refreshNet);
  document.addEventListener('visibilitychange', () => {
    if (document.visibilityState === 'visible' && navigator.onLine) outbox.flush();
  });
  // Lost connections do not always fire "online": retry what waits now and then.
  setInterval(() => {
    if (navigator.onLine && outboxState.pending) outbox.flush();
  }, 15000);
  window.addEventListener('hashchange', route);

  if (session.user) {
    outbox.setUser(session.user);
    outboxState = await outbox.summary();
    renderShell();
    outbox.releaseHeld().then(() => outbox.flush());
    // Check the session in the background; offline the cached copy answers.
    request('/api/me')
      .then(({ data }) => data && setUser({ ...session.user, ...data }))
      .catch(() => {});
    if (!session.templates.length) loadTemplates();
  } else {
    renderShell();
  }
  if (session.user) startFeedPolling(renderNav);
  await route();
}

boot();
