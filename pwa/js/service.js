// Office screens of issue 16 (#/service?tab=…): the equipment registry (search, add,
// import a CSV/XLSX file), service contracts and their monthly report, maintenance plans
// with their next visits and calendar link, and labour totals. Plain forms; the server
// names the field of every refusal.

import { get, query, request } from './api.js';
import { field, h, replace } from './dom.js';
import { t } from './i18n.js';
import { hasRole } from './session.js';
import { button, errorBox, pageTitle } from './ui.js';

const TABS = ['equipment', 'contracts', 'plans', 'labour'];

function input(name, attrs = {}) {
  return h('input', { name, id: `svc-${name}`, ...attrs });
}

function formBody(form) {
  const body = {};
  for (const el of form.elements) {
    if (!el.name || el.value === '' || el.type === 'submit' || el.type === 'file') continue;
    body[el.name] = el.dataset.number ? Number(el.value) : el.value;
  }
  return body;
}

async function counterpartyOptions() {
  try {
    return (await get('/api/counterparties')).map((c) => h('option', { value: String(c.id) }, c.name));
  } catch {
    return [];
  }
}

export async function renderService(main, { params, isCurrent }) {
  const tab = TABS.includes(params.tab) ? params.tab : 'equipment';
  const state = { error: null, message: null };
  const body = h('div', { class: 'service-body' });
  const counterparties = await counterpartyOptions();

  function nav() {
    return h('nav', { class: 'tabs', 'aria-label': t('service.title') },
      TABS.map((name) => h('a', { href: `#/service?tab=${name}`, class: 'tab', 'aria-current': name === tab ? 'page' : null }, t(`service.${name}`))));
  }

  async function submit(event, path, after) {
    event.preventDefault();
    state.error = null;
    try {
      await request(path, { method: 'POST', body: formBody(event.target) });
      state.message = t('service.saved');
      event.target.reset();
    } catch (err) {
      state.error = err;
    }
    await after();
  }

  function cpSelect() {
    return h('select', { name: 'counterparty_id', id: 'svc-counterparty', required: true, dataset: { number: '1' } }, h('option', { value: '' }, t('common.choose')), counterparties.map((o) => o.cloneNode(true)));
  }

  async function equipmentTab() {
    const q = h('input', { type: 'search', id: 'svc-q', placeholder: t('service.search_serial'), value: params.q || '' });
    let page = { items: [] };
    try {
      page = await get(`/api/equipment${query({ q: params.q, limit: 100 })}`);
    } catch (err) {
      state.error = err;
    }
    const file = h('input', { type: 'file', id: 'svc-import', accept: '.csv,.xlsx' });
    const report = h('div', { id: 'svc-import-report' });
    async function importFile() {
      const chosen = file.files?.[0];
      if (!chosen) return;
      const bytes = new Uint8Array(await chosen.arrayBuffer());
      let binary = '';
      for (const b of bytes) binary += String.fromCharCode(b);
      try {
        const resp = await request('/api/equipment/import', { method: 'POST', body: { filename: chosen.name, data_base64: btoa(binary) } });
        replace(report, h('p', { role: 'status' }, t('service.imported', { n: resp.data.accepted })));
      } catch (err) {
        const rows = err.extra?.report?.rows?.filter((r) => r.status === 'rejected') || [];
        replace(report, errorBox(err), h('ul', {}, rows.map((r) => h('li', {}, `${t('service.row')} ${r.row}: ${r.errors.join('; ')}`))));
      }
    }
    return [
      h('form', { class: 'search-row', onsubmit: (e) => { e.preventDefault(); location.hash = `#/service?tab=equipment&q=${encodeURIComponent(q.value)}`; } }, q, button(t('service.find'), null, { type: 'submit' })),
      h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['kind', 'model', 'serial', 'counterparty', 'site', 'warranty'].map((c) => h('th', {}, t(`service.col_${c}`))))),
        h('tbody', {}, page.items.map((e) => h('tr', { dataset: { equipmentId: String(e.id) } },
          h('td', {}, e.kind_name), h('td', {}, e.model), h('td', {}, e.serial), h('td', {}, e.counterparty.name), h('td', {}, e.site?.name || ''), h('td', {}, e.warranty_until || ''))))),
      hasRole('office', 'admin') ? h('details', { class: 'card' }, h('summary', {}, t('service.add_equipment')),
        h('form', { onsubmit: (e) => submit(e, '/api/equipment', draw) },
          field(t('service.col_counterparty'), cpSelect()),
          field(t('service.col_kind'), input('kind', { required: true })),
          field(t('service.col_model'), input('model', { required: true })),
          field(t('service.col_serial'), input('serial')),
          field(t('service.col_warranty'), input('warranty_until', { type: 'date' })),
          button(t('service.save'), null, { kind: 'primary', type: 'submit' }))) : null,
      hasRole('office', 'admin') ? h('details', { class: 'card' }, h('summary', {}, t('service.import')),
        h('p', { class: 'hint' }, t('service.import_hint')), file, button(t('service.import'), importFile), report) : null,
    ];
  }

  async function contractsTab() {
    const rows = await get('/api/contracts');
    return [
      h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['number', 'counterparty', 'period', 'visits', 'hours', 'status'].map((c) => h('th', {}, t(`service.col_${c}`))))),
        h('tbody', {}, rows.map((c) => h('tr', {},
          h('td', {}, c.number), h('td', {}, c.counterparty.name), h('td', {}, `${c.starts_on} — ${c.ends_on || '…'}`),
          h('td', {}, c.visits_per_month ?? '∞'), h('td', {}, c.hours_per_month ?? '∞'), h('td', {}, c.in_force ? t('service.in_force') : c.status))))),
      h('p', {}, h('a', { href: '/api/contracts/report.xlsx', download: '' }, t('service.report_xlsx')), ' · ', h('a', { href: '/api/contracts/report.csv', download: '' }, 'CSV')),
      h('details', { class: 'card' }, h('summary', {}, t('service.add_contract')),
        h('form', { onsubmit: (e) => submit(e, '/api/contracts', draw) },
          field(t('service.col_counterparty'), cpSelect()),
          field(t('service.col_number'), input('number', { required: true })),
          field(t('service.starts_on'), input('starts_on', { type: 'date', required: true })),
          field(t('service.ends_on'), input('ends_on', { type: 'date' })),
          field(t('service.col_visits'), input('visits_per_month', { type: 'number', min: 0, dataset: { number: '1' } })),
          field(t('service.col_hours'), input('hours_per_month', { inputmode: 'decimal' })),
          button(t('service.save'), null, { kind: 'primary', type: 'submit' }))),
    ];
  }

  async function plansTab() {
    const plans = await get('/api/maintenance-plans');
    let link = null;
    try {
      link = (await get('/api/me/maintenance-calendar')).url;
    } catch {
      /* the link is a convenience */
    }
    return [
      link ? h('p', {}, t('service.calendar_link'), ' ', h('a', { href: link, id: 'svc-ics' }, 'webcal/.ics')) : null,
      h('table', { class: 'data' },
        h('thead', {}, h('tr', {}, ['title', 'counterparty', 'rrule', 'next', 'error'].map((c) => h('th', {}, t(`service.col_${c}`))))),
        h('tbody', {}, plans.map((p) => h('tr', { dataset: { planId: String(p.id) } },
          h('td', {}, p.title), h('td', {}, p.counterparty.name), h('td', {}, h('code', {}, p.rrule)),
          h('td', {}, p.next_occurrence_on || '—'), h('td', { class: 'field-error' }, p.last_error))))),
      h('details', { class: 'card' }, h('summary', {}, t('service.add_plan')),
        h('form', { onsubmit: (e) => submit(e, '/api/maintenance-plans', draw) },
          field(t('service.col_counterparty'), cpSelect()),
          field(t('service.template'), input('template', { required: true, value: 'field_visit' })),
          field(t('service.col_title'), input('title', { required: true })),
          field(t('service.col_rrule'), input('rrule', { required: true, placeholder: 'FREQ=MONTHLY;BYMONTHDAY=1' })),
          field(t('service.starts_on'), input('starts_on', { type: 'date', required: true })),
          field(t('service.lead_days'), input('lead_days', { type: 'number', min: 0, max: 365, dataset: { number: '1' } })),
          button(t('service.save'), null, { kind: 'primary', type: 'submit' }))),
    ];
  }

  async function labourTab() {
    const report = await get(`/api/labour${query({ from: params.from, to: params.to })}`);
    const list = (rows) => h('ul', { class: 'plain-list' }, rows.map((r) => h('li', {}, `${r.name}: ${(r.minutes / 60).toFixed(1)} ${t('service.hours_short')}`)));
    return [
      h('p', {}, `${report.date_from} — ${report.date_to}: ${(report.total_minutes / 60).toFixed(1)} ${t('service.hours_short')}`),
      h('div', { class: 'task-grid' },
        h('section', { class: 'card' }, h('h2', {}, t('service.by_engineer')), list(report.by_engineer)),
        h('section', { class: 'card' }, h('h2', {}, t('service.by_contract')), list(report.by_contract)),
        h('section', { class: 'card' }, h('h2', {}, t('service.by_counterparty')), list(report.by_counterparty))),
      h('p', {}, h('a', { href: `/api/labour/export.xlsx${query({ from: report.date_from, to: report.date_to })}`, download: '' }, t('service.report_xlsx'))),
    ];
  }

  async function draw() {
    if (!isCurrent()) return;
    let content = [];
    try {
      content = await { equipment: equipmentTab, contracts: contractsTab, plans: plansTab, labour: labourTab }[tab]();
    } catch (err) {
      state.error = err;
    }
    replace(body, state.error ? errorBox(state.error) : null, state.message ? h('p', { role: 'status', class: 'note' }, state.message) : null, content);
    state.message = null;
  }

  replace(main, pageTitle(t('service.title')), nav(), body);
  await draw();
}
