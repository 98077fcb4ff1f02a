// Dispatch (issue 17): the office's board (a map of today's open field visits and the
// engineers, always with a list beside it — the list is the board when tiles cannot load),
// the engineer's day route, and opt-in sharing of the phone's position while on duty.
// Leaflet is vendored (pwa/vendor/leaflet, BSD-2) and loaded only when the board opens.

import { ApiError, get, query, request } from './api.js';
import { clear, h, replace, toast } from './dom.js';
import { formatTime, language } from './i18n.js';
import { storage } from './storage.js';
import { pageTitle } from './ui.js';

const WORDS = {
  ru: {
    board: 'Карта выездов',
    route: 'Мой день',
    group: 'Группа',
    status: 'Статус',
    all: 'Все',
    visits: 'Выезды',
    engineers: 'Инженеры',
    nearest: 'Ближайшие',
    assign: 'Назначить',
    assigned: 'Назначено: {name}',
    no_point: 'нет точки на карте',
    no_position: 'место неизвестно',
    km: '{n} км',
    open_tasks: 'в работе: {n}',
    at: 'на {time}',
    tiles_failed: 'Карта недоступна (сервер плиток не отвечает) — работайте со списком.',
    no_visits: 'Открытых выездов нет.',
    no_route: 'На этот день принятых выездов нет.',
    total: 'Всего {km} км, около {min} мин в пути',
    open_navigator: 'Открыть маршрут в навигаторе',
    unplaced: 'Без точки на карте',
    sharing: 'Передавать моё местоположение на смене',
    sharing_hint: 'Раз в несколько минут, пока включено; хранится сутки, клиенты его не видят.',
    source_location: 'по геопозиции',
    source_checkin: 'по отметке на объекте',
    source_home: 'база',
    date: 'Дата',
    algorithm: 'Порядок: ближайший следующий, улучшенный 2-opt',
  },
  en: {
    board: 'Dispatch board',
    route: 'My day',
    group: 'Group',
    status: 'Status',
    all: 'All',
    visits: 'Visits',
    engineers: 'Engineers',
    nearest: 'Nearest',
    assign: 'Assign',
    assigned: 'Assigned: {name}',
    no_point: 'no point on the map',
    no_position: 'position unknown',
    km: '{n} km',
    open_tasks: 'open: {n}',
    at: 'at {time}',
    tiles_failed: 'The map is unavailable (the tile server does not answer): use the list.',
    no_visits: 'No open field visits.',
    no_route: 'No accepted visits for this day.',
    total: '{km} km in all, about {min} min on the road',
    open_navigator: 'Open the route in the navigator',
    unplaced: 'Without a point on the map',
    sharing: 'Share my position while on duty',
    sharing_hint: 'Every few minutes while on; kept for a day, never shown to clients.',
    source_location: 'shared position',
    source_checkin: 'last check-in',
    source_home: 'home base',
    date: 'Date',
    algorithm: 'Order: nearest next, improved by 2-opt',
  },
};

function w(key, params = {}) {
  const dict = WORDS[language()] || WORDS.ru;
  const text = dict[key] ?? WORDS.ru[key] ?? key;
  return text.replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

const km = (m) => w('km', { n: (m / 1000).toFixed(m < 10000 ? 1 : 0) });
const STATUSES = ['new', 'accepted', 'en_route', 'in_progress', 'waiting_client'];

// --- the office's board -------------------------------------------------------------------

let leaflet = null;
function stylesheet(id, href) {
  if (!document.getElementById(id)) document.head.append(h('link', { rel: 'stylesheet', href, id }));
}

async function loadLeaflet() {
  if (!leaflet) {
    stylesheet('leaflet-css', '/vendor/leaflet/leaflet.css');
    leaflet = await import('/vendor/leaflet/leaflet-src.esm.js');
  }
  return leaflet;
}

export async function renderBoard(main, { params, isCurrent }) {
  stylesheet('dispatch-css', '/css/dispatch.css');
  const groups = await get('/api/groups');
  if (!isCurrent()) return undefined;
  const groupSel = h('select', { id: 'board-group', name: 'group' },
    h('option', { value: '' }, w('all')),
    groups.map((g) => h('option', { value: String(g.id), selected: String(g.id) === params.group }, g.name)));
  const statusSel = h('select', { id: 'board-status', name: 'status' },
    h('option', { value: '' }, w('all')),
    STATUSES.map((s) => h('option', { value: s, selected: s === params.status }, s)));
  const note = h('div', { id: 'board-note', 'aria-live': 'polite' });
  const mapEl = h('div', { id: 'board-map', class: 'board-map', role: 'region', 'aria-label': w('board') });
  const list = h('ul', { id: 'board-visits', class: 'board-list' });
  const people = h('ul', { id: 'board-engineers', class: 'board-list' });
  replace(main,
    pageTitle(w('board')),
    h('div', { class: 'form-row board-filters' },
      h('label', { for: 'board-group' }, w('group')), groupSel,
      h('label', { for: 'board-status' }, w('status')), statusSel),
    note,
    h('div', { class: 'board' },
      mapEl,
      h('section', { 'aria-labelledby': 'board-visits-title' }, h('h2', { id: 'board-visits-title' }, w('visits')), list),
      h('section', { 'aria-labelledby': 'board-engineers-title' }, h('h2', { id: 'board-engineers-title' }, w('engineers')), people)));

  let map = null;
  let layer = null;
  let tiles = null;
  let tilesFailed = false;
  const L = await loadLeaflet().catch(() => null);
  if (L && isCurrent()) {
    try {
      map = L.map(mapEl, { zoomControl: true }).setView([55.751, 37.618], 10);
      layer = L.layerGroup().addTo(map);
    } catch {
      map = null;
    }
  }

  function tilesDown() {
    if (tilesFailed) return;
    tilesFailed = true;
    mapEl.hidden = true;
    replace(note, h('div', { class: 'alert alert-warning', role: 'status', id: 'board-tiles-failed' }, w('tiles_failed')));
  }

  async function showNearest(visit, slot) {
    replace(slot, '…');
    let rows;
    try {
      rows = await get(`/api/tasks/${visit.task.id}/nearest-engineers?limit=5`);
    } catch (err) {
      replace(slot, h('p', { class: 'field-error' }, err?.detail || String(err)));
      return;
    }
    replace(slot, h('ol', { class: 'nearest', 'data-task-id': String(visit.task.id) },
      rows.map((e) => h('li', { class: 'nearest-engineer', 'data-user-id': String(e.user.id) },
        h('span', { class: 'nearest-name' }, e.user.full_name), ' · ',
        e.distance_m === null ? w('no_position') : km(e.distance_m),
        e.source ? ` (${w(`source_${e.source}`)}${e.position_at ? `, ${formatTime(e.position_at)}` : ''})` : '',
        ' · ', w('open_tasks', { n: e.open_tasks }), ' ',
        h('button', {
          type: 'button',
          class: 'btn btn-primary btn-small',
          'data-assign': String(e.user.id),
          onclick: async (ev) => {
            ev.target.disabled = true;
            try {
              await request(`/api/tasks/${visit.task.id}/assign`, { method: 'POST', body: { user_id: e.user.id } });
              toast(w('assigned', { name: e.user.full_name }));
              await load();
            } catch (err) {
              ev.target.disabled = false;
              replace(slot, h('p', { class: 'field-error', role: 'alert' }, err instanceof ApiError ? err.detail : String(err)));
            }
          },
        }, w('assign'))))));
  }

  async function load() {
    const board = await get(`/api/dispatch/board${query({ group: groupSel.value, status: statusSel.value })}`);
    if (!isCurrent()) return;
    if (map && !tiles) {
      tiles = L.tileLayer(board.tile_url, { attribution: board.tile_attribution, maxZoom: 19 });
      tiles.on('tileerror', tilesDown);
      if (board.tile_url) tiles.addTo(map);
      else tilesDown();
    }
    clear(list);
    if (!board.visits.length) list.append(h('li', { class: 'empty' }, w('no_visits')));
    const bounds = [];
    if (layer) layer.clearLayers();
    for (const v of board.visits) {
      const slot = h('div', { class: 'nearest-slot' });
      const place = v.site && v.site.lat !== null ? `${v.site.name}, ${v.site.address}` : w('no_point');
      list.append(h('li', { class: 'board-visit', 'data-task-id': String(v.task.id), 'data-status': v.task.status },
        h('a', { href: `#/task/${v.task.id}` }, `#${v.task.number ?? v.task.id} ${v.task.title}`),
        h('div', { class: 'hint' }, `${v.task.status} · ${place}${v.assignee ? ` · ${v.assignee.full_name}` : ''}`),
        v.site && v.site.lat !== null
          ? h('button', { type: 'button', class: 'btn btn-secondary btn-small', 'data-nearest': String(v.task.id), onclick: () => showNearest(v, slot) }, w('nearest'))
          : null,
        slot));
      if (layer && v.site && v.site.lat !== null) {
        bounds.push([v.site.lat, v.site.lon]);
        L.circleMarker([v.site.lat, v.site.lon], { radius: 8, color: v.assignee ? '#2563eb' : '#dc2626' })
          .bindTooltip(`#${v.task.number ?? v.task.id} ${v.task.title}`)
          .on('click', () => showNearest(v, slot))
          .addTo(layer);
      }
    }
    clear(people);
    for (const e of board.engineers) {
      people.append(h('li', { class: 'board-engineer', 'data-user-id': String(e.user.id) },
        e.user.full_name, ' · ',
        e.position ? `${w(`source_${e.position.source}`)}${e.position.at ? ` ${formatTime(e.position.at)}` : ''}` : w('no_position'),
        ' · ', w('open_tasks', { n: e.open_tasks })));
      if (layer && e.position) {
        bounds.push([e.position.lat, e.position.lon]);
        L.circleMarker([e.position.lat, e.position.lon], { radius: 6, color: '#16a34a', fillOpacity: 0.8 })
          .bindTooltip(e.user.full_name)
          .addTo(layer);
      }
    }
    if (map && bounds.length) map.fitBounds(bounds, { padding: [24, 24], maxZoom: 14 });
  }

  groupSel.addEventListener('change', load);
  statusSel.addEventListener('change', load);
  await load();
  return () => {
    if (map) map.remove();
  };
}

// --- the engineer's day --------------------------------------------------------------------

export async function renderRoute(main, { params, isCurrent }) {
  stylesheet('dispatch-css', '/css/dispatch.css');
  const day = params.date || new Date().toISOString().slice(0, 10);
  const dateInput = h('input', { type: 'date', id: 'route-date', value: day });
  const body = h('div', { id: 'route' });
  replace(main, pageTitle(w('route')), sharingSwitch(),
    h('div', { class: 'form-row' }, h('label', { for: 'route-date' }, w('date')), dateInput), body);
  dateInput.addEventListener('change', () => { location.hash = `#/route?date=${dateInput.value}`; });
  const here = await currentPosition();
  const route = await get(`/api/me/route${query({ date: day, lat: here?.lat, lon: here?.lon })}`);
  if (!isCurrent()) return;
  if (!route.stops.length && !route.unplaced.length) {
    replace(body, h('p', { class: 'empty' }, w('no_route')));
    return;
  }
  replace(body,
    h('p', { id: 'route-total' }, w('total', { km: (route.distance_m / 1000).toFixed(1), min: Math.round(route.duration_s / 60) })),
    route.navigator_url ? h('a', { class: 'btn btn-primary', id: 'route-navigator', href: route.navigator_url, target: '_blank', rel: 'noopener' }, w('open_navigator')) : null,
    h('ol', { class: 'route-stops' }, route.stops.map((s) => h('li', { 'data-task-id': String(s.task.id) },
      h('a', { href: `#/task/${s.task.id}` }, `#${s.task.number ?? s.task.id} ${s.task.title}`),
      h('div', { class: 'hint' }, `${s.site?.address || ''} · ${km(s.leg_m)} · ${w('at', { time: formatTime(s.eta_at) })}`)))),
    route.unplaced.length ? h('section', {}, h('h2', {}, w('unplaced')),
      h('ul', {}, route.unplaced.map((t) => h('li', {}, h('a', { href: `#/task/${t.id}` }, `#${t.number ?? t.id} ${t.title}`))))) : null,
    h('p', { class: 'hint' }, w('algorithm')));
}

function currentPosition() {
  if (!navigator.geolocation) return Promise.resolve(null);
  return new Promise((resolve) => {
    navigator.geolocation.getCurrentPosition(
      (p) => resolve({ lat: p.coords.latitude, lon: p.coords.longitude, accuracy_m: p.coords.accuracy }),
      () => resolve(null),
      { maximumAge: 120000, timeout: 5000 },
    );
  });
}

// --- sharing the position ------------------------------------------------------------------

const SHARING_KEY = 'naryad.shareLocation';
let sharingTimer = null;

function sharingSwitch() {
  const box = h('input', { type: 'checkbox', id: 'share-location', checked: storage.get(SHARING_KEY) === 'on' });
  box.addEventListener('change', async () => {
    box.disabled = true;
    try {
      const answer = (await request('/api/me/location-sharing', { method: 'PUT', body: { enabled: box.checked } })).data;
      storage.set(SHARING_KEY, answer.enabled ? 'on' : 'off');
      startLocationSharing(answer.interval_s);
    } catch (err) {
      box.checked = !box.checked;
      toast(err?.detail || String(err));
    } finally {
      box.disabled = false;
    }
  });
  return h('div', { class: 'form-row share-location' },
    box, h('label', { for: 'share-location' }, w('sharing')),
    h('p', { class: 'hint' }, w('sharing_hint')));
}

/** While sharing is on, send the phone's position at most every `intervalS` seconds. */
export function startLocationSharing(intervalS = 300) {
  clearInterval(sharingTimer);
  sharingTimer = null;
  if (storage.get(SHARING_KEY) !== 'on') return;
  const send = async () => {
    const here = await currentPosition();
    if (!here) return;
    await request('/api/me/location', { method: 'POST', body: here }).catch((err) => {
      if (err instanceof ApiError && err.status === 409) {
        storage.set(SHARING_KEY, 'off');
        clearInterval(sharingTimer);
      }
    });
  };
  send();
  sharingTimer = setInterval(send, Math.max(60, intervalS) * 1000);
}
