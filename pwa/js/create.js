// New task: the template comes first (R1); while the title is typed, the counterparty
// R2 would link is shown (or what is missing). The server stays the judge of R2: when it
// refuses a misspelt name or two names, its suggestions become one-tap fixes.

import { OfflineError, get, query, request } from './api.js';
import { clear, replace, field, h, setFieldError } from './dom.js';
import { t } from './i18n.js';
import * as outbox from './outbox.js';
import { equipmentPicker } from './taskwork.js';
import { session, template, templateName } from './session.js';
import { errorBox, infoBox, pageTitle } from './ui.js';
import { navigate } from './app.js';

export async function renderCreate(main, { isCurrent }) {
  const [groups, users] = await Promise.all([
    get('/api/groups').catch(() => []),
    get('/api/users').catch(() => []),
  ]);
  if (!isCurrent()) return;

  const tplSelect = h('select', { name: 'template', id: 'new-template', required: true },
    h('option', { value: '' }, t('create.choose_template')),
    session.templates.map((x) => h('option', { value: x.code }, templateName(x.code))));
  const title = h('input', { name: 'title', id: 'new-title', required: true, maxlength: 500, autocomplete: 'off' });
  const hint = h('div', { class: 'r2-hint', id: 'r2-hint', 'aria-live': 'polite' });
  const fixes = h('div', { class: 'r2-fixes', id: 'r2-fixes' });
  const description = h('textarea', { name: 'description', id: 'new-description', rows: 5 });
  const equipment = equipmentPicker();
  const site = h('select', { name: 'site_id', id: 'new-site', disabled: true }, h('option', { value: '' }, t('create.no_site')));
  const group = h('select', { name: 'group_id', id: 'new-group' });
  const assignee = h('select', { name: 'assignee_id', id: 'new-assignee' },
    h('option', { value: '' }, t('create.no_assignee')),
    users.filter((u) => !u.roles.every((r) => r === 'client')).map((u) => h('option', { value: String(u.id) }, u.full_name)));
  const priority = h('select', { name: 'priority', id: 'new-priority' },
    ['low', 'normal', 'high', 'urgent'].map((p) => h('option', { value: p, selected: p === 'normal' }, t(`priority.${p}`))));
  const due = h('input', { type: 'datetime-local', name: 'due', id: 'new-due' });
  const result = h('div', { id: 'create-result' });
  const submit = h('button', { type: 'submit', class: 'btn btn-primary' }, t('create.submit'));
  const rest = h('fieldset', { class: 'rest', disabled: true },
    h('legend', { class: 'visually-hidden' }, t('create.details')),
    field(t('create.title'), title, { hint: t('create.title_hint') }),
    hint,
    fixes,
    field(t('create.description'), description),
    field(t('create.site'), site),
    field(t('work.equipment'), equipment.element),
    field(t('create.group'), group),
    field(t('create.assignee'), assignee),
    h('div', { class: 'form-row' }, field(t('create.priority'), priority), field(t('create.due'), due, { hint: t('create.due_hint') })),
    submit);

  let matched = null;
  let controller = null;
  let timer = null;
  // A suggestion tapped after an R2 refusal: sent as counterparty_id while the title is
  // the one it came with (two names in one title need the choice, not a guess).
  let chosen = null;
  const chosenNow = () => (chosen && chosen.title === title.value.trim() ? chosen : null);

  // Two names: each suggestion keeps the title and picks one. A typo: each rewrites the
  // misspelt words with the name, and the button shows the title it would give.
  function showFixes(suggestions) {
    clear(fixes);
    if (!suggestions?.length) return;
    const current = title.value.trim();
    const pick = suggestions.every((s) => s.title === current);
    fixes.append(
      h('p', { class: 'r2-fixes-prompt', id: 'r2-fixes-prompt' }, t(pick ? 'create.r2_fixes_pick' : 'create.r2_fixes_typo')),
      h('div', { class: 'r2-fixes-list', role: 'group', 'aria-labelledby': 'r2-fixes-prompt' },
        suggestions.map((s) => h('button', {
          type: 'button',
          class: 'btn btn-secondary btn-small r2-fix',
          dataset: { counterpartyId: String(s.id) },
          onclick: () => applyFix(s),
        }, s.name, s.title !== current ? h('span', { class: 'r2-fix-title' }, `→ ${s.title}`) : null))),
    );
  }

  function applyFix(s) {
    chosen = { id: s.id, name: s.name, title: s.title };
    title.value = s.title;
    setFieldError(title, '');
    clear(fixes);
    clear(result);
    checkTitle();
    title.focus();
  }

  function fillGroups(tpl) {
    const byDefault = groups.find((g) => g.id === tpl?.default_group_id);
    replace(group, 
      h('option', { value: '' }, byDefault ? t('create.group_default', { name: byDefault.name }) : t('create.no_group')),
      groups.map((g) => h('option', { value: String(g.id) }, g.name)),
    );
  }

  async function loadSites(counterpartyId) {
    replace(site, h('option', { value: '' }, t('create.no_site')));
    site.disabled = true;
    equipment.load(counterpartyId);
    if (!counterpartyId) return;
    try {
      const rows = await get(`/api/sites${query({ counterparty: counterpartyId })}`);
      site.append(...rows.map((s) => h('option', { value: String(s.id) }, `${s.name} — ${s.address}`)));
      site.disabled = rows.length === 0;
      // The only site is the one the server would link anyway (server/dispatch/subscribers.py).
      if (rows.length === 1) site.value = String(rows[0].id);
    } catch {
      /* offline: the site can be set later */
    }
  }

  function showHint(kind, text) {
    replace(hint, h('p', { class: `r2 r2-${kind}` }, text));
  }

  async function checkTitle() {
    const tpl = template(tplSelect.value);
    if (!tpl) return;
    const text = title.value.trim();
    const required = tpl.counterparty_in_title;
    const picked = chosenNow();
    if (picked) {
      controller?.abort();
      const before = matched?.counterparty_id;
      matched = { counterparty_id: picked.id, name: picked.name };
      showHint('found', t('create.r2_chosen', { name: picked.name }));
      if (before !== picked.id) loadSites(picked.id);
      return;
    }
    if (!text) {
      matched = null;
      loadSites(null);
      if (required) showHint('missing', t('create.r2_needed'));
      else clear(hint);
      return;
    }
    controller?.abort();
    controller = new AbortController();
    try {
      const { data } = await request(`/api/counterparties/match${query({ title: text })}`, { signal: controller.signal });
      const before = matched?.counterparty_id;
      matched = data;
      if (data) {
        showHint('found', t('create.r2_found', { name: data.name }));
        if (before !== data.counterparty_id) loadSites(data.counterparty_id);
      } else {
        loadSites(null);
        if (required) showHint('missing', t('create.r2_missing', { template: templateName(tpl.code) }));
        else showHint('none', t('create.r2_optional'));
      }
    } catch (err) {
      if (err?.name === 'AbortError') return;
      showHint('unknown', err instanceof OfflineError ? t('create.r2_offline') : t('create.r2_unknown'));
    }
  }

  tplSelect.addEventListener('change', () => {
    const tpl = template(tplSelect.value);
    rest.disabled = !tpl;
    setFieldError(tplSelect, '');
    fillGroups(tpl);
    if (tpl) checkTitle();
    else replace(hint, h('p', { class: 'r2' }, t('create.r1')));
  });
  title.addEventListener('input', () => {
    setFieldError(title, '');
    clear(result);
    clear(fixes);
    clearTimeout(timer);
    timer = setTimeout(checkTitle, 250);
  });

  async function onsubmit(event) {
    event.preventDefault();
    clear(result);
    const tpl = template(tplSelect.value);
    if (!tpl) {
      setFieldError(tplSelect, t('create.r1'));
      tplSelect.focus();
      return;
    }
    const body = { template: tpl.code, title: title.value.trim() };
    if (description.value.trim()) body.description = description.value.trim();
    if (site.value) body.site_id = Number(site.value);
    if (equipment.ids().length) body.equipment_ids = equipment.ids();
    if (group.value) body.group_id = Number(group.value);
    if (assignee.value) body.assignee_id = Number(assignee.value);
    if (chosenNow()) body.counterparty_id = chosenNow().id;
    body.priority = priority.value;
    const dueAt = due.value ? new Date(due.value) : null;
    submit.disabled = true;
    const outcome = await outbox.perform({ kind: 'create', taskId: null, action: 'create', path: '/api/tasks', body });
    submit.disabled = false;
    if (outcome.status === 'done' && outcome.data?.id) {
      // The due time is an edit of the new task (the SLA sets one; the office may move it).
      if (dueAt && !Number.isNaN(dueAt.getTime())) {
        await request(`/api/tasks/${outcome.data.id}`, { method: 'PATCH', body: { due_resolution_at: dueAt.toISOString() } }).catch(() => {});
      }
      navigate(`#/task/${outcome.data.id}`);
      return;
    }
    if (outcome.status === 'queued') {
      result.append(infoBox(t('create.queued')));
      return;
    }
    const error = outcome.error || { detail: t('common.failed') };
    // A rule about one field is shown at that field; the rest below the form.
    const at = /^R2\b/.test(error.detail || '') ? title : /^R1\b/.test(error.detail || '') ? tplSelect : null;
    if (at) {
      setFieldError(at, error.detail);
      if (at === title) showFixes(error.extra?.suggestions);
      result.append(errorBox({ detail: t('create.see_field', { field: at === title ? t('create.title') : t('create.template') }) }, { title: t('create.failed') }));
      at.focus();
    } else {
      result.append(errorBox(error, { title: t('create.failed') }));
    }
  }

  replace(main, 
    pageTitle(t('create.heading')),
    h('form', { class: 'card form create-form', id: 'create-form', onsubmit, novalidate: true },
      field(t('create.template'), tplSelect, { hint: t('create.r1') }),
      rest,
      result),
  );
  fillGroups(null);
}
