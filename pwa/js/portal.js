// The client's portal (issue 18): their company's requests with status, engineer and the
// planned visit; a new request (templates the portal may use, knowledge-base hints while
// the title is typed, a photo); a request's public conversation with a reply box, the
// sign-off of a finished visit (accept or dispute the completion act) and the rating.
// The server decides what a client sees and may do; this screen only asks it.

import { ApiError, get, newKey, query, request } from './api.js';
import { clear, field, h, replace, setFieldError } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { prepare } from './photos.js';
import { session, template } from './session.js';
import { button, errorBox, infoBox, offlineNote, pageTitle, statusChip } from './ui.js';
import { articleLinks } from './kb.js';

const SIGN_OFF_STATUSES = new Set(['done', 'completed']);
const SUGGEST_DELAY_MS = 300;

/** Only the client role: the portal is their whole app. */
export function isClientOnly() {
  const roles = session.user?.roles || [];
  return roles.length > 0 && roles.every((role) => role === 'client');
}

function dataUrl(blob) {
  return new Promise((resolve, reject) => {
    const reader = new FileReader();
    reader.onload = () => resolve(reader.result);
    reader.onerror = () => reject(reader.error);
    reader.readAsDataURL(blob);
  });
}

/** When the engineer comes: a visit postponed to a time, else the promised resolution time. */
function plannedVisit(task) {
  if (task.status === 'postponed' && task.postponed_until) return t('portal.visit_planned', { at: formatDateTime(task.postponed_until) });
  if (task.arrived_at && !task.done_at) return t('portal.on_site', { at: formatDateTime(task.arrived_at) });
  if (task.departed_at && !task.arrived_at) return t('portal.on_the_way');
  if (task.due_resolution_at && !['done', 'completed', 'cancelled'].includes(task.status)) {
    return t('portal.due_by', { at: formatDateTime(task.due_resolution_at) });
  }
  return null;
}

function requestRow(task) {
  const planned = plannedVisit(task);
  return h('li', { class: 'task-row' },
    h('a', { href: `#/portal/task/${task.id}`, class: 'task-link', dataset: { taskId: String(task.id) } },
      h('span', { class: 'task-row-top' }, h('span', { class: 'task-number' }, `#${task.number}`), statusChip(task.status)),
      h('span', { class: 'task-title' }, task.title),
      h('span', { class: 'task-meta portal-engineer' },
        task.assignee ? t('portal.engineer', { name: task.assignee.full_name }) : t('portal.no_engineer_yet')),
      planned ? h('span', { class: 'task-facts portal-planned' }, planned) : null,
      h('span', { class: 'task-meta' }, t('portal.created', { at: formatDateTime(task.created_at) }))));
}

// --- the home: my requests -------------------------------------------------------------

export async function renderPortal(main, { isCurrent }) {
  let page;
  let cachedAt = null;
  let error = null;
  try {
    const resp = await request(`/api/tasks${query({ limit: 50 })}`);
    page = resp.data;
    cachedAt = resp.cachedAt;
  } catch (err) {
    error = err;
  }
  if (!isCurrent()) return;
  const tasks = page?.items || [];
  const open = tasks.filter((x) => !['completed', 'cancelled'].includes(x.status));
  const closed = tasks.filter((x) => ['completed', 'cancelled'].includes(x.status));
  const list = (items, empty) => (items.length
    ? h('ul', { class: 'task-list' }, items.map(requestRow))
    : h('p', { class: 'empty' }, empty));
  replace(main,
    pageTitle(t('portal.title'), h('a', { href: '#/portal/new', class: 'btn btn-primary', id: 'portal-new' }, t('portal.new'))),
    offlineNote(cachedAt),
    errorBox(error, { title: t('common.failed') }),
    h('section', { class: 'card', 'aria-labelledby': 'portal-open-h', id: 'portal-open' },
      h('h2', { id: 'portal-open-h' }, t('portal.open')), list(open, t('portal.none_open'))),
    closed.length ? h('section', { class: 'card', 'aria-labelledby': 'portal-closed-h', id: 'portal-closed' },
      h('h2', { id: 'portal-closed-h' }, t('portal.closed')), list(closed, '')) : null);
}

// --- a new request ---------------------------------------------------------------------

export async function renderPortalNew(main, { isCurrent }) {
  let templates = [];
  let loadError = null;
  try {
    templates = await get('/api/portal/templates');
  } catch (err) {
    loadError = err;
  }
  if (!isCurrent()) return;
  const tpl = h('select', { name: 'template', id: 'portal-template', required: true },
    templates.length > 1 ? h('option', { value: '' }, t('portal.choose_kind')) : null,
    templates.map((x) => h('option', { value: x.code }, x.name)));
  const title = h('input', { name: 'title', id: 'portal-title', required: true, maxlength: 500, autocomplete: 'off' });
  const hints = h('div', { class: 'kb-hints', id: 'kb-hints', 'aria-live': 'polite' });
  const description = h('textarea', { name: 'description', id: 'portal-description', rows: 5 });
  const photo = h('input', { type: 'file', name: 'photo', id: 'portal-photo', accept: 'image/*,application/pdf', multiple: true });
  const status = h('div', { id: 'portal-new-status', 'aria-live': 'polite' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary btn-block', id: 'portal-send' }, t('portal.send'));

  let timer = null;
  let asked = '';
  async function suggest() {
    const words = title.value.trim();
    if (words.length < 3 || words === asked) {
      if (words.length < 3) clear(hints);
      return;
    }
    asked = words;
    let found = [];
    try {
      found = (await get(`/api/kb/suggest${query({ title: words })}`)).items || [];
    } catch {
      return; // hints are a help, never in the way
    }
    if (asked !== words) return;
    replace(hints, found.length
      ? [h('p', { class: 'hint' }, t('portal.kb_hint')),
        h('ul', { class: 'plain-list', id: 'kb-suggestions' }, found.map((a) => h('li', {},
          h('a', { href: `#/kb/${a.id}`, target: '_blank', rel: 'noopener', class: 'kb-suggestion' }, a.title))))]
      : []);
  }
  title.addEventListener('input', () => {
    clearTimeout(timer);
    timer = setTimeout(suggest, SUGGEST_DELAY_MS);
  });

  async function send(event) {
    event.preventDefault();
    setFieldError(title, '');
    if (!tpl.value) {
      setFieldError(tpl, t('portal.choose_kind'));
      return;
    }
    if (!title.value.trim()) {
      setFieldError(title, t('portal.title_needed'));
      return;
    }
    submit.disabled = true;
    replace(status, infoBox(t('portal.sending'), 'pending'));
    let task;
    try {
      task = (await request('/api/tasks', {
        method: 'POST',
        idempotencyKey: newKey(),
        body: { template: tpl.value, title: title.value.trim(), description: description.value.trim() },
      })).data;
    } catch (err) {
      submit.disabled = false;
      replace(status, errorBox(err instanceof ApiError ? err : { detail: t('common.offline_not_cached') }, { title: t('portal.not_sent') }));
      if (err instanceof ApiError && err.status === 422) setFieldError(title, err.detail);
      return;
    }
    const failed = [];
    for (const file of photo.files || []) {
      try {
        const prepared = await prepare(file);
        await request(`/api/tasks/${task.id}/attachments`, {
          method: 'POST',
          idempotencyKey: newKey(),
          body: { filename: prepared.name, content_type: prepared.type, data_base64: await dataUrl(prepared.blob), public: true },
        });
      } catch (err) {
        failed.push(`${file.name}: ${err?.detail || err?.message || err}`);
      }
    }
    if (failed.length) sessionStorage.setItem('naryad.portal.notice', t('portal.photo_failed', { files: failed.join('; ') }));
    location.hash = `#/portal/task/${task.id}`;
  }

  replace(main,
    pageTitle(t('portal.new')),
    errorBox(loadError, { title: t('common.failed') }),
    !loadError && !templates.length ? infoBox(t('portal.no_kinds')) : null,
    h('form', { class: 'card form', id: 'portal-form', onsubmit: send, novalidate: true },
      field(t('portal.kind'), tpl),
      field(t('portal.request_title'), title, { hint: t('portal.title_hint') }),
      hints,
      field(t('portal.description'), description),
      field(t('portal.photo'), photo, { hint: t('portal.photo_hint') }),
      status,
      submit));
}

// --- one request -----------------------------------------------------------------------

export async function renderPortalTask(main, { id, isCurrent }) {
  const state = { task: null, comments: [], signOff: null, attachments: [], error: null, notice: null, busy: false, cachedAt: null };
  // Built once and re-attached on every redraw: its list is fetched once.
  const articles = articleLinks(id);
  const notice = sessionStorage.getItem('naryad.portal.notice');
  if (notice) {
    sessionStorage.removeItem('naryad.portal.notice');
    state.notice = { kind: 'error', text: notice };
  }

  async function load() {
    try {
      const resp = await request(`/api/tasks/${id}`);
      state.task = resp.data;
      state.cachedAt = resp.cachedAt;
    } catch (err) {
      state.error = err;
      return;
    }
    const [comments, signOff, attachments] = await Promise.allSettled([
      get(`/api/tasks/${id}/comments`),
      SIGN_OFF_STATUSES.has(state.task.status) ? get(`/api/tasks/${id}/sign-off`) : Promise.resolve(null),
      get(`/api/tasks/${id}/attachments`),
    ]);
    state.comments = comments.status === 'fulfilled' ? comments.value : [];
    state.signOff = signOff.status === 'fulfilled' ? signOff.value : null;
    state.attachments = attachments.status === 'fulfilled' ? attachments.value : [];
  }

  async function post(path, body, done) {
    state.busy = true;
    state.error = null;
    draw();
    try {
      await request(path, { method: 'POST', body, idempotencyKey: newKey() });
      state.notice = { kind: 'success', text: done };
      await load();
    } catch (err) {
      state.error = err instanceof ApiError ? err : { detail: t('common.offline_not_cached') };
    }
    state.busy = false;
    draw();
  }

  function conversation() {
    const body = h('textarea', { name: 'reply', id: 'portal-reply', rows: 3 });
    return h('section', { class: 'card', 'aria-labelledby': 'portal-comments-h', id: 'portal-comments' },
      h('h2', { id: 'portal-comments-h' }, t('portal.conversation')),
      state.comments.length
        ? h('ol', { class: 'comments' }, state.comments.map((c) => h('li', { class: 'comment public' },
          h('p', { class: 'comment-meta' }, h('strong', {}, c.author?.name || t('common.system')), ' · ', formatDateTime(c.created_at)),
          h('p', { class: 'pre' }, c.body))))
        : h('p', { class: 'empty' }, t('portal.no_comments')),
      state.task.status === 'cancelled' ? null : h('form', {
        class: 'form',
        id: 'portal-reply-form',
        onsubmit: (event) => {
          event.preventDefault();
          const text = body.value.trim();
          if (!text) {
            setFieldError(body, t('comments.empty'));
            return;
          }
          post(`/api/tasks/${id}/comments`, { body: text, public: true }, t('portal.reply_sent'));
        },
      }, field(t('portal.reply'), body), button(t('portal.reply_send'), null, { type: 'submit', disabled: state.busy })));
  }

  function signOffSection(task) {
    const visit = template(task.template)?.has_departure ?? Boolean(task.departed_at || task.arrived_at);
    if (!visit || !SIGN_OFF_STATUSES.has(task.status)) return null;
    const answered = state.signOff;
    // The answer reads "accepted" or "disputed".
    const accepted = answered && ['accepted', 'accept'].includes(answered.decision);
    const comment = h('textarea', { name: 'sign_off_comment', id: 'sign-off-comment', rows: 2 });
    const decide = (decision) => {
      const text = comment.value.trim();
      if (decision === 'dispute' && !text) {
        setFieldError(comment, t('portal.dispute_needs_comment'));
        return;
      }
      post(`/api/tasks/${id}/sign-off`, { decision, comment: text },
        decision === 'accept' ? t('portal.accepted') : t('portal.disputed'));
    };
    return h('section', { class: 'card', 'aria-labelledby': 'sign-off-h', id: 'sign-off' },
      h('h2', { id: 'sign-off-h' }, t('portal.act')),
      task.completed_works ? h('div', { class: 'works' }, h('h3', {}, t('task.completed_works')), h('p', { class: 'pre' }, task.completed_works)) : null,
      answered
        ? h('p', { id: 'sign-off-answer', class: `badge ${accepted ? 'badge-public' : 'badge-pending'}` },
          t(accepted ? 'portal.act_accepted' : 'portal.act_disputed', { name: answered.signer_name || '', at: formatDateTime(answered.at) }),
          answered.comment ? ` — ${answered.comment}` : '')
        : h('p', { class: 'hint' }, t('portal.act_hint')),
      h('form', { class: 'form', id: 'sign-off-form', onsubmit: (event) => event.preventDefault() },
        field(t('portal.act_comment'), comment),
        h('div', { class: 'actions-inline' },
          button(t('portal.accept'), () => decide('accept'), { kind: 'primary', name: 'sign-off-accept', disabled: state.busy }),
          button(t('portal.dispute'), () => decide('dispute'), { kind: 'danger', name: 'sign-off-dispute', disabled: state.busy }))));
  }

  function ratingSection(task) {
    if (task.status !== 'completed') return null;
    const current = task.rating;
    let chosen = current?.score || 0;
    const comment = h('textarea', { name: 'rating_comment', id: 'rating-comment', rows: 2, value: current?.comment || '' });
    const stars = [1, 2, 3, 4, 5].map((n) => h('button', {
      type: 'button',
      class: `btn ${n <= chosen ? 'btn-primary' : 'btn-secondary'} rating-star`,
      'aria-pressed': n === chosen ? 'true' : 'false',
      'aria-label': t('portal.score_label', { n }),
      dataset: { score: String(n) },
      onclick: () => {
        chosen = n;
        stars.forEach((el, i) => {
          el.className = `btn ${i < n ? 'btn-primary' : 'btn-secondary'} rating-star`;
          el.setAttribute('aria-pressed', i + 1 === n ? 'true' : 'false');
        });
      },
    }, String(n)));
    return h('section', { class: 'card', 'aria-labelledby': 'rating-h', id: 'rating' },
      h('h2', { id: 'rating-h' }, t('portal.rate')),
      current ? h('p', { id: 'rating-current' }, t('portal.rated', { score: current.score })) : h('p', { class: 'hint' }, t('portal.rate_hint')),
      h('form', {
        class: 'form',
        id: 'rating-form',
        onsubmit: (event) => {
          event.preventDefault();
          if (!chosen) {
            state.error = { detail: t('portal.pick_score') };
            draw();
            return;
          }
          post(`/api/tasks/${id}/rating`, { score: chosen, comment: comment.value.trim() || null }, t('portal.thanks'));
        },
      },
      h('div', { class: 'actions-inline', role: 'group', 'aria-label': t('portal.rate') }, stars),
      field(t('portal.rating_comment'), comment),
      button(current ? t('portal.rate_again') : t('portal.rate_send'), null, { type: 'submit', kind: 'primary', disabled: state.busy })));
  }

  function draw() {
    if (!isCurrent()) return;
    const task = state.task;
    if (!task) {
      replace(main, pageTitle(t('task.title_unknown', { id })), errorBox(state.error || { detail: t('common.failed') }, { title: t('common.failed') }));
      return;
    }
    const planned = plannedVisit(task);
    replace(main,
      h('article', { class: 'task portal-task', dataset: { status: task.status }, 'aria-busy': state.busy ? 'true' : 'false' },
        pageTitle(`#${task.number} ${task.title}`),
        h('p', { class: 'task-chips' }, statusChip(task.status)),
        offlineNote(state.cachedAt),
        state.notice ? infoBox(state.notice.text, state.notice.kind) : null,
        errorBox(state.task && state.error, { title: t('common.failed') }),
        h('section', { class: 'card', 'aria-labelledby': 'portal-details-h' },
          h('h2', { id: 'portal-details-h', class: 'visually-hidden' }, t('task.details')),
          h('p', { id: 'portal-engineer' }, task.assignee ? t('portal.engineer', { name: task.assignee.full_name }) : t('portal.no_engineer_yet')),
          planned ? h('p', { id: 'portal-planned' }, planned) : null,
          task.site ? h('p', {}, task.site.address) : null,
          task.description ? h('p', { class: 'pre' }, task.description) : null,
          state.attachments.length ? h('p', { id: 'portal-files' }, t('portal.files', { n: state.attachments.length })) : null),
        signOffSection(task),
        ratingSection(task),
        conversation(),
        articles));
  }

  await load();
  if (state.task) state.error = null;
  draw();
}
