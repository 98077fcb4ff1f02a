// Russian by default; the choice is remembered on the device.

import { storage } from './storage.js';

export const LANGUAGES = ['ru', 'en'];
const KEY = 'naryad.lang';
let lang = 'ru';
let dict = {};
let fallback = {};

async function load(code) {
  const resp = await fetch(`/i18n/${code}.json`);
  if (!resp.ok) throw new Error(`i18n ${code}: HTTP ${resp.status}`);
  return resp.json();
}

export async function initI18n() {
  const saved = storage.get(KEY);
  lang = LANGUAGES.includes(saved) ? saved : 'ru';
  fallback = await load('ru');
  dict = lang === 'ru' ? fallback : await load(lang).catch(() => fallback);
  document.documentElement.lang = lang;
}

export async function setLanguage(code) {
  if (!LANGUAGES.includes(code)) return;
  dict = code === 'ru' ? fallback : await load(code);
  lang = code;
  storage.set(KEY, code);
  document.documentElement.lang = code;
}

export function language() {
  return lang;
}

function lookup(table, key) {
  return key.split('.').reduce((node, part) => (node && typeof node === 'object' ? node[part] : undefined), table);
}

/** t('action.accept'), t('outbox.waiting', {n: 3}); plural forms as {one, few, many, other}. */
export function t(key, params = {}) {
  let value = lookup(dict, key);
  if (value === undefined) value = lookup(fallback, key);
  if (value === undefined) return key;
  if (typeof value === 'object' && 'n' in params) {
    const rule = new Intl.PluralRules(lang).select(params.n);
    value = value[rule] ?? value.other;
  }
  return String(value).replace(/\{(\w+)\}/g, (_, name) => (name in params ? String(params[name]) : `{${name}}`));
}

export function formatDateTime(value) {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  return date.toLocaleString(lang === 'ru' ? 'ru-RU' : 'en-GB', {
    day: '2-digit', month: '2-digit', year: 'numeric', hour: '2-digit', minute: '2-digit',
  });
}

export function formatTime(value) {
  const date = new Date(value);
  return date.toLocaleTimeString(lang === 'ru' ? 'ru-RU' : 'en-GB', { hour: '2-digit', minute: '2-digit' });
}
