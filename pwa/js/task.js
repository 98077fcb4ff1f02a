// The task card: details, the buttons for the actions the server says the caller may take
// now (`task.actions`), completed works and Done, checker's approve/return, office assign
// and print, comments, photos, signature and history. Every change goes through the outbox.

import { OfflineError, get, request } from './api.js';
import { replace, field, h } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import * as outbox from './outbox.js';
import { equipmentList, workSection } from './taskwork.js';
import { browser, hasEndpoint } from './features.js';
import { hasRole, session, template, templateName } from './session.js';
import { actionsOf, predictAfterQueued } from './workflow.js';
import { button, errorBox, infoBox, offlineNote, pageTitle, statusChip } from './ui.js';
import { photoSection } from './photos.js';
import { signaturePad } from './signature.js';
import { specSection } from './spec.js';
import { articleLinks } from './kb.js';
import { checkinFacts, documentLinks, editForm, eventDetails, eventLabel, returnedBanner, signatureImage } from './taskextra.js';

function position() {
  if (!browser.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (pos) => resolve({ lat: pos.coords.latitude, lon: pos.coords.longitude }),
      () => resolve(null),
      { enableHighAccuracy: true, timeout: 10000, maximumAge: 60000 },
    );
  });
}

function mapLinks(site) {
  if (!site) return null;
  const hasPoint = site.lat !== null && site.lat !== undefined && site.lon !== null && site.lon !== undefined;
  const osm = hasPoint
    ? `https://www.openstreetmap.org/?mlat=${site.lat}&mlon=${site.lon}#map=17/${site.lat}/${site.lon}`
    : `https://www.openstreetmap.org/search?query=${encodeURIComponent(site.address)}`;
  const geo = hasPoint ? `geo:${site.lat},${site.lon}?q=${site.lat},${site.lon}` : `geo:0,0?q=${encodeURIComponent(site.address)}`;
  return h('span', { class: 'links' },
    h('a', { href: osm, target: '_blank', rel: 'noopener', id: 'map-link', class: 'btn btn-ghost btn-small' }, t('task.map')),
    h('a', { href: geo, class: 'btn btn-ghost btn-small' }, t('task.navigator')));
}

function describeEvent(event) {
  const d = event.data || {};
  const parts = [];
  if (d.from && d.to) parts.push(`${t(`status.${d.from}`)} → ${t(`status.${d.to}`)}`);
  if (d.assignee) parts.push(d.assignee);
  if (d.reason) parts.push(t('history.reason', { reason: d.reason }));
  if (d.completed_works) parts.push(t('history.works', { works: d.completed_works }));
  if (d.until) parts.push(t('history.until', { until: formatDateTime(d.until) }));
  if (d.distance_m !== undefined && d.distance_m !== null) parts.push(t('history.distance', { m: Math.round(d.distance_m) }));
  if (d.far_from_site) parts.push(t('history.far'));
  if (event.kind === 'comment') parts.push(d.public ? t('comments.public') : t('comments.internal'));
  if (event.kind === 'attachment') parts.push(d.caption ? `${d.filename} — ${d.caption}` : d.filename, d.public ? t('photos.public') : t('comments.internal'));
  parts.push(...eventDetails(event));
  return parts.join(' · ');
}

export async function renderTask(main, { id, isCurrent }) {
  const me = session.user;
  const state = {
    task: null,
    cachedAt: null,
    comments: null,
    history: null,
    entries: [],
    loadError: null,
    error: null,
    notice: null,
    busy: false,
    users: null,
    pdfListed: null,
    drafts: { works: null, comment: '', commentPublic: false, reason: '', refuse: '', until: '', postponeReason: '', assignee: '', redirect: '' },
  };
  // Built once and re-attached on every redraw, so what is drawn or picked is kept.
  const photos = photoSection(id, { onSent: () => loadSide().then(draw) });
  const signature = signaturePad({ onsave: saveSignature });
  // Issue 18: knowledge-base articles linked to the task (employees link one).
  const articles = articleLinks(id);
  // Holder, office and admins edit the specification while the task is open.
  const spec = specSection(id, { canEdit: () => Boolean(state.task) && (view().assignee?.id === me.id || hasRole('office', 'admin')) });

  async function loadTask() {
    try {
      const resp = await request(`/api/tasks/${id}`);
      state.task = resp.data;
      state.cachedAt = resp.cachedAt;
      state.loadError = null;
    } catch (err) {
      state.loadError = err instanceof OfflineError ? { code: 'offline' } : err;
    }
  }

  async function loadSide() {
    const [comments, history] = await Promise.allSettled([get(`/api/tasks/${id}/comments`), get(`/api/tasks/${id}/history`)]);
    state.comments = comments.status === 'fulfilled' ? comments.value : null;
    state.history = history.status === 'fulfilled' ? history.value : null;
  }

  async function loadUsers() {
    // Only the assign and redirect forms need the people to choose from.
    if (state.users || !navigator.onLine || !state.task) return;
    if (!['assign', 'redirect'].some((action) => actionsOf(view()).includes(action))) return;
    try {
      state.users = (await get('/api/users')).filter((u) => u.roles.some((r) => r !== 'client'));
    } catch {
      state.users = null;
    }
  }

  // --- actions ------------------------------------------------------------------------

  /** The server's task, or while actions on it wait in the outbox, the task after them. */
  // Issue 16: the checklist and labour time (the holder and the office fill them).
  const work = workSection(id, {
    canWork: () => Boolean(state.task) && (view().assignee?.id === me.id || hasRole('office', 'admin')) && !['done', 'completed', 'cancelled'].includes(view().status),
  });
  work.refresh();

  function view() {
    const pending = state.entries.filter((e) => e.state === 'pending');
    if (!pending.length) return state.task;
    return predictAfterQueued(state.task, pending, { template: template(state.task.template), me });
  }

  async function settle(result, action) {
    state.busy = false;
    if (result.status === 'done') {
      if (result.data && result.data.version !== undefined && result.data.number !== undefined) state.task = result.data;
      // A far check-in is kept, but it is no plain "on site": a warning, not a success (R7).
      const far = action === 'arrive' && result.data?.checkin_far;
      state.notice = far
        ? { kind: 'warning', text: `${t('done.arrive')} ${t('task.far', { m: Math.round(result.data.checkin_distance_m || 0) })}` }
        : { kind: 'success', text: t(`done.${action}`) };
      await Promise.all([loadTask(), loadSide(), spec.refresh()]);
    } else if (result.status === 'queued') {
      state.notice = { kind: 'info', text: t('outbox.queued_notice') };
    } else if (result.status === 'held') {
      state.notice = { kind: 'info', text: t('signature.held') };
    } else {
      state.error = { ...result.error, action };
      await Promise.all([loadTask(), loadSide(), spec.refresh()]);
    }
    state.entries = await outbox.entriesFor(id);
    await loadUsers();
    await draw();
    document.getElementById('task-feedback')?.focus();
  }

  async function act(action, body) {
    state.error = null;
    state.notice = null;
    state.busy = true;
    await draw();
    const result = await outbox.perform({
      kind: 'transition',
      taskId: id,
      action,
      path: `/api/tasks/${id}/${action}`,
      body,
      ifMatch: view().version,
    });
    if (result.status === 'done' && action === 'accept' && browser.vibrate) navigator.vibrate(30);
    await settle(result, action);
  }

  async function arrive() {
    state.busy = true;
    state.notice = { kind: 'info', text: t('task.locating') };
    await draw();
    const where = await position();
    await act('arrive', where ? { lat: where.lat, lon: where.lon } : {});
    if (!where) {
      state.notice = { kind: state.notice?.kind || 'info', text: `${state.notice?.text || ''} ${t('task.no_location')}`.trim() };
      await draw();
    }
  }

  async function comment(event) {
    event.preventDefault();
    const body = state.drafts.comment.trim();
    if (!body) {
      state.error = { detail: t('comments.empty') };
      await draw();
      return;
    }
    state.error = null;
    state.notice = null;
    state.busy = true;
    await draw();
    const result = await outbox.perform({
      kind: 'comment',
      taskId: id,
      action: 'comment',
      path: `/api/tasks/${id}/comments`,
      body: { body, public: state.drafts.commentPublic },
    });
    if (result.status !== 'failed') {
      state.drafts.comment = '';
      state.drafts.commentPublic = false;
    }
    await settle(result, 'comment');
  }

  async function saveSignature(body) {
    const result = await outbox.perform({
      kind: 'signature',
      taskId: id,
      action: 'signature',
      path: `/api/tasks/${id}/signature`,
      body,
    });
    state.entries = await outbox.entriesFor(id);
    if (result.status === 'done') return t('signature.sent');
    if (result.status === 'held') return t('signature.held');
    if (result.status === 'queued') return t('outbox.queued_notice');
    return `${t('signature.failed')} ${result.error?.detail || ''}`;
  }

  // --- drawing ------------------------------------------------------------------------

  function draft(name, control, prop = 'value') {
    control[prop] = state.drafts[name] ?? '';
    control.addEventListener('input', () => {
      state.drafts[name] = control[prop];
    });
    control.addEventListener('change', () => {
      state.drafts[name] = control[prop];
    });
    return control;
  }

  function actionButton(action, label, onclick, kind = 'primary') {
    return button(label, onclick, { kind, disabled: state.busy, name: action });
  }

  function conflictBoxes() {
    return state.entries
      .filter((e) => e.state === 'conflict' || e.state === 'held')
      .map((e) => {
        if (e.state === 'held') return infoBox(t(outbox.heldTextKey(e)));
        return errorBox(e.error, {
          title: t('conflict.not_sent', { action: t(`action.${e.action}`), when: formatDateTime(e.createdAt) }),
          actions: [
            // Someone else holds the task: accepting again cannot work, so no retry.
            e.action === 'accept' && e.error?.holder ? null : button(t('conflict.retry'), async () => {
              await outbox.retry(e.seq);
              await refresh();
            }),
            button(t('conflict.discard'), async () => {
              await outbox.discard(e.seq);
              await refresh();
            }, { kind: 'ghost' }),
          ],
        });
      });
  }

  function feedback() {
    const items = [...conflictBoxes()];
    const pending = state.entries.filter((e) => e.state === 'pending');
    if (pending.length) {
      items.push(infoBox(t('task.pending', { n: pending.length, actions: pending.map((e) => t(`action.${e.action}`)).join(', ') }), 'pending'));
    }
    if (state.error) {
      items.push(errorBox(state.error, {
        title: state.error.action ? t('conflict.failed', { action: t(`action.${state.error.action}`) }) : null,
      }));
    }
    if (state.notice) items.push(infoBox(state.notice.text, state.notice.kind));
    return h('div', { id: 'task-feedback', tabindex: '-1', class: 'feedback' }, items);
  }

  function detailsList(task) {
    const rows = [
      [t('task.counterparty'), task.counterparty?.name || t('common.none')],
      [t('task.site'), task.site ? h('span', {}, h('span', { class: 'site-name' }, task.site.name), h('br'), h('span', { id: 'site-address' }, task.site.address), mapLinks(task.site)) : t('common.none')],
      [t('task.assignee'), task.assignee?.full_name || t('task.unassigned')],
      [t('task.group'), task.group?.name || t('common.none')],
      [t('task.requester'), task.requester?.name || t('common.none')],
      [t('task.created'), formatDateTime(task.created_at)],
      task.accepted_at ? [t('task.accepted'), formatDateTime(task.accepted_at)] : null,
      task.arrived_at ? [t('task.arrived'), h('span', {}, formatDateTime(task.arrived_at),
        task.checkin_far ? h('strong', { class: 'warn' }, ' ', t('task.far', { m: Math.round(task.checkin_distance_m || 0) })) : null)] : null,
      task.done_at ? [t('task.done_at'), formatDateTime(task.done_at)] : null,
      task.postponed_until ? [t('task.postponed_until'), formatDateTime(task.postponed_until)] : null,
      [t('create.priority'), h('span', { class: `prio prio-${task.priority}` }, t(`priority.${task.priority || 'normal'}`))],
      task.due_resolution_at ? [t('create.due'), h('span', { class: task.overdue ? 'warn' : '' }, formatDateTime(task.due_resolution_at), task.overdue ? ` · ${t('task.overdue')}` : '')] : null,
    ].filter(Boolean);
    return h('dl', { class: 'details' }, rows.map(([k, v]) => [h('dt', {}, k), h('dd', {}, v)]));
  }

  function primaryActions(task) {
    const can = (action) => actionsOf(task).includes(action);
    const buttons = [];
    if (can('accept')) buttons.push(actionButton('accept', t('action.accept'), () => act('accept')));
    // Leaving a site again (for parts, say) is possible but not the usual next step.
    // Departure is the step before a check-in only: never a one-tap button once on site.
    if (can('depart') && task.status === 'accepted') buttons.push(actionButton('depart', t('action.depart'), () => act('depart')));
    if (can('arrive')) buttons.push(actionButton('arrive', t('action.arrive'), arrive));
    if (can('start')) buttons.push(actionButton('start', t('action.start'), () => act('start')));
    return buttons.length ? h('div', { class: 'actions' }, buttons) : null;
  }

  function doneForm(task, tpl) {
    if (!actionsOf(task).includes('done')) return null;
    const works = h('textarea', { name: 'completed_works', id: 'completed-works', rows: 4, required: Boolean(tpl?.requires_completed_works) });
    if (state.drafts.works === null) state.drafts.works = task.completed_works || '';
    draft('works', works);
    return h('form', {
      class: 'card form',
      id: 'done-form',
      novalidate: true,
      onsubmit: async (event) => {
        event.preventDefault();
        if (tpl?.requires_completed_works && !works.value.trim()) {
          state.error = { detail: t('task.works_required') };
          await draw();
          document.getElementById('completed-works')?.focus();
          return;
        }
        await act('done', { completed_works: works.value.trim() });
      },
    },
    h('h2', {}, t('task.finish')),
    field(t('task.completed_works'), works, { hint: tpl?.requires_completed_works ? t('task.works_hint_required') : t('task.works_hint') }),
    h('button', { type: 'submit', class: 'btn btn-primary', disabled: state.busy, dataset: { action: 'done' } }, t('action.done')));
  }

  function checkerPanel(task) {
    const can = (action) => actionsOf(task).includes(action);
    if (!can('approve') && !can('return')) return null;
    const reason = draft('reason', h('textarea', { name: 'reason', id: 'return-reason', rows: 3 }));
    return h('section', { class: 'card form', 'aria-labelledby': 'check-h' },
      h('h2', { id: 'check-h' }, t('check.panel')),
      task.completed_works ? h('div', { class: 'works' }, h('h3', {}, t('task.completed_works')), h('p', { class: 'pre' }, task.completed_works)) : null,
      checkinFacts(task),
      signatureImage(task),
      can('approve') ? h('div', { class: 'actions' }, actionButton('approve', t('action.approve'), () => act('approve'))) : null,
      can('return') ? field(t('check.reason'), reason) : null,
      can('return') ? h('div', { class: 'actions' }, actionButton('return', t('action.return'), async () => {
        if (!reason.value.trim()) {
          state.error = { detail: t('check.reason_required') };
          await draw();
          document.getElementById('return-reason')?.focus();
          return;
        }
        await act('return', { reason: reason.value.trim() });
        state.drafts.reason = '';
      }, 'danger')) : null);
  }

  function userSelect(name, id, filter = () => true) {
    const select = h('select', { name, id },
      h('option', { value: '' }, t('common.choose')),
      (state.users || []).filter(filter).map((u) => h('option', { value: String(u.id) }, u.full_name)));
    return draft(name, select);
  }

  function officePanel(task) {
    const parts = [];
    if (actionsOf(task).includes('assign')) {
      const select = userSelect('assignee', 'assign-user', (u) => u.roles.includes('engineer'));
      parts.push(h('form', {
        class: 'inline-form',
        onsubmit: async (event) => {
          event.preventDefault();
          if (!select.value) return;
          await act('assign', { user_id: Number(select.value) });
        },
      }, field(t('task.assign_to'), select), h('button', { type: 'submit', class: 'btn btn-secondary', disabled: state.busy || !state.users, dataset: { action: 'assign' } }, t('action.assign'))));
    }
    parts.push(h('p', {},
      h('a', { class: 'btn btn-ghost', href: `/api/tasks/${task.id}/work-order.pdf`, target: '_blank', rel: 'noopener', id: 'print-link' }, t('task.print')),
      state.pdfListed === false ? h('span', { class: 'hint' }, ' ', t('task.print_pending')) : null),
    ['done', 'completed'].includes(task.status) ? documentLinks(task).lastChild : null);
    const heading = hasRole('office', 'admin') ? t('task.office') : t('task.documents');
    return h('section', { class: 'card', 'aria-labelledby': 'office-h' }, h('h2', { id: 'office-h' }, heading), parts);
  }

  function moreActions(task) {
    const can = (action) => actionsOf(task).includes(action);
    const parts = [];
    if (can('release')) {
      parts.push(h('div', { class: 'actions' }, actionButton('release', t('action.release'), () => act('release'), 'secondary')));
    }
    if (can('postpone')) {
      const until = draft('until', h('input', { type: 'datetime-local', name: 'until', id: 'postpone-until' }));
      const why = draft('postponeReason', h('input', { name: 'postpone_reason', id: 'postpone-reason' }));
      parts.push(h('form', {
        class: 'inline-form',
        onsubmit: async (event) => {
          event.preventDefault();
          const when = new Date(until.value);
          if (!until.value || Number.isNaN(when.getTime())) {
            state.error = { detail: t('more.until_required') };
            await draw();
            return;
          }
          // toISOString() is RFC 3339 in UTC, so the server gets a timezone.
          await act('postpone', { until: when.toISOString(), reason: why.value.trim() || null });
        },
      }, field(t('more.until'), until), field(t('more.postpone_reason'), why),
      h('button', { type: 'submit', class: 'btn btn-secondary', disabled: state.busy, dataset: { action: 'postpone' } }, t('action.postpone'))));
    }
    if (can('redirect') && state.users) {
      const who = userSelect('redirect', 'redirect-user', (u) => u.id !== me.id);
      const callBack = h('input', { type: 'checkbox', name: 'call_back', id: 'redirect-call-back' });
      parts.push(h('form', {
        class: 'inline-form',
        onsubmit: async (event) => {
          event.preventDefault();
          if (!who.value) return;
          await act('redirect', { user_id: Number(who.value), call_back: callBack.checked });
        },
      }, field(t('more.redirect_to'), who),
      h('div', { class: 'check' }, callBack, h('label', { for: callBack.id }, t('more.call_back'))),
      h('button', { type: 'submit', class: 'btn btn-secondary', disabled: state.busy, dataset: { action: 'redirect' } }, t('action.redirect'))));
    }
    if (can('refuse')) {
      const reason = draft('refuse', h('textarea', { name: 'refuse_reason', id: 'refuse-reason', rows: 2 }));
      parts.push(h('form', {
        class: 'inline-form',
        onsubmit: async (event) => {
          event.preventDefault();
          if (!reason.value.trim()) {
            state.error = { detail: t('more.refuse_required') };
            await draw();
            return;
          }
          await act('refuse', { reason: reason.value.trim() });
        },
      }, field(t('more.refuse_reason'), reason),
      h('button', { type: 'submit', class: 'btn btn-danger', disabled: state.busy, dataset: { action: 'refuse' } }, t('action.refuse'))));
    }
    if (!parts.length) return null;
    return h('details', { class: 'card more' }, h('summary', {}, t('more.title')), parts);
  }

  function commentsSection() {
    const pending = state.entries.filter((e) => e.kind === 'comment');
    const text = draft('comment', h('textarea', { name: 'comment', id: 'comment-body', rows: 3 }));
    const pub = draft('commentPublic', h('input', { type: 'checkbox', name: 'public', id: 'comment-public' }), 'checked');
    const list = state.comments === null
      ? h('p', { class: 'note' }, t('common.offline_not_cached'))
      : h('ol', { class: 'comments' },
        state.comments.map((c) => h('li', { class: c.public ? 'comment public' : 'comment internal' },
          h('p', { class: 'comment-meta' }, h('strong', {}, c.author?.name || t('common.system')), ' · ', formatDateTime(c.created_at), ' · ',
            h('span', { class: c.public ? 'badge badge-public' : 'badge' }, c.public ? t('comments.public') : t('comments.internal'))),
          h('p', { class: 'pre' }, c.body))),
        pending.map((e) => h('li', { class: 'comment waiting' },
          h('p', { class: 'comment-meta' }, h('strong', {}, me.full_name), ' · ',
            h('span', { class: 'badge badge-pending' }, e.state === 'conflict' ? t('outbox.conflict_short') : t('outbox.pending_short'))),
          h('p', { class: 'pre' }, e.body.body))));
    return h('section', { class: 'card', 'aria-labelledby': 'comments-h' },
      h('h2', { id: 'comments-h' }, t('comments.title')),
      list,
      h('form', { id: 'comment-form', class: 'form', onsubmit: comment },
        field(t('comments.new'), text),
        h('div', { class: 'check' }, pub, h('label', { for: pub.id }, t('comments.make_public'))),
        h('button', { type: 'submit', class: 'btn btn-secondary', disabled: state.busy }, t('comments.send'))));
  }

  function historySection() {
    const body = state.history === null
      ? h('p', { class: 'note' }, t('common.offline_not_cached'))
      : h('ol', { class: 'history' }, state.history.map((e) => h('li', {},
        h('span', { class: 'history-at' }, formatDateTime(e.at)),
        h('span', { class: 'history-what' }, h('strong', {}, eventLabel(e.kind)),
          e.actor ? ` — ${e.actor.full_name}` : '', e.channel && e.channel !== 'ui' ? ` (${e.channel})` : ''),
        describeEvent(e) ? h('span', { class: 'history-data' }, describeEvent(e)) : null)));
    return h('section', { class: 'card', 'aria-labelledby': 'history-h' }, h('h2', { id: 'history-h' }, t('history.title')), body);
  }

  async function draw() {
    if (!isCurrent()) return;
    const focused = document.activeElement?.id;
    // A redraw (the outbox sent something, a refresh) keeps the page where the reader had
    // it: replacing the card shrinks the page for a moment, which scrolled it to the top
    // under the engineer's finger (signing, say).
    const scrolled = window.scrollY;
    if (!state.task) {
      replace(main, pageTitle(t('task.title_unknown', { id })), errorBox(state.loadError || { detail: t('common.failed') }, { title: t('common.failed') }));
      return;
    }
    const task = view();
    const tpl = template(task.template);
    const pendingHere = state.entries.some((e) => e.state === 'pending');
    const checking = ['approve', 'return'].some((action) => actionsOf(task).includes(action));
    // Photos and the client's signature belong to the work on site: the holder's tools.
    const working = task.assignee?.id === me.id && !['completed', 'cancelled'].includes(task.status);
    // The signature is taken before Done (the server refuses it after): no pad once done.
    const signing = working && task.status !== 'done';
    // Anyone who sees the card sees the photos; the holder and the office add them.
    photos.setCanAdd(working || hasRole('office', 'admin'));
    spec.redraw();
    replace(main, 
      h('article', { class: 'task', 'aria-busy': state.busy ? 'true' : 'false', dataset: { status: task.status } },
        pageTitle(`#${task.number} ${task.title}`),
        h('p', { class: 'task-chips' }, statusChip(task.status, pendingHere), ' ', h('span', { class: 'chip chip-plain' }, templateName(task.template)),
          // R11: redirected with "call the client back"
          task.call_back ? [' ', h('span', { class: 'badge badge-pending', id: 'call-back-badge' }, t('more.call_back'))] : null),
        offlineNote(state.cachedAt),
        returnedBanner(task, state.history),
        feedback(),
        h('div', { class: 'task-grid' },
          h('div', { class: 'task-main' },
            primaryActions(task),
            h('section', { class: 'card', 'aria-labelledby': 'details-h' },
              h('h2', { id: 'details-h', class: 'visually-hidden' }, t('task.details')),
              detailsList(task),
              task.description ? h('div', { class: 'description' }, h('h3', {}, t('task.description')), h('p', { class: 'pre' }, task.description)) : null,
              task.completed_works && !checking ? h('div', { class: 'works' }, h('h3', {}, t('task.completed_works')), h('p', { class: 'pre' }, task.completed_works)) : null),
            equipmentList(task),
            work.element,
            doneForm(task, tpl),
            checkerPanel(task),
            spec.element,
            editForm(task, { onSaved: (saved) => { state.task = saved; refresh(); } }),
            hasRole('office', 'admin', 'checker', 'engineer') ? officePanel(task) : null,
            moreActions(task)),
          h('div', { class: 'task-side' },
            commentsSection(),
            h('section', { class: 'card', 'aria-labelledby': 'photos-h' }, h('h2', { id: 'photos-h' }, t('photos.title')), photos.element),
            signing ? h('section', { class: 'card', 'aria-labelledby': 'signature-h' }, h('h2', { id: 'signature-h' }, t('signature.title')), signature) : null,
            articles,
            historySection()))),
    );
    if (focused && focused !== 'page-title') document.getElementById(focused)?.focus({ preventScroll: true });
    if (window.scrollY !== scrolled) window.scrollTo(0, scrolled);
  }

  async function refresh() {
    work.refresh();
    await Promise.all([loadTask(), loadSide(), photos.refresh(), spec.refresh()]);
    state.entries = await outbox.entriesFor(id);
    await loadUsers();
    const waiting = state.entries.some((e) => e.state === 'pending');
    if (!waiting && state.notice?.text === t('outbox.queued_notice')) {
      state.notice = { kind: 'success', text: t('outbox.all_sent') };
    }
    await draw();
  }

  await Promise.all([loadTask(), loadSide(), photos.refresh(), spec.refresh()]);
  state.entries = await outbox.entriesFor(id);
  await loadUsers();
  hasEndpoint('get', '/api/tasks/{task_id}/work-order.pdf').then((listed) => {
    state.pdfListed = listed;
  });
  await draw();

  // The outbox changed (sent in the background, a conflict came back): show it.
  let timer = null;
  return outbox.onChange(() => {
    if (!isCurrent() || state.busy) return;
    clearTimeout(timer);
    timer = setTimeout(() => {
      if (isCurrent() && !state.busy) refresh();
    }, 150);
  });
}

