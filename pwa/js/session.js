// Who is logged in and the directory data every screen needs (templates), kept on the
// device so the app starts offline. The session itself is the httponly cookie.

import { get } from './api.js';
import { storage } from './storage.js';
import { language } from './i18n.js';
import { t } from './i18n.js';

const USER_KEY = 'naryad.user';
const TEMPLATES_KEY = 'naryad.templates';

export const session = {
  user: storage.getJSON(USER_KEY),
  templates: storage.getJSON(TEMPLATES_KEY) || [],
};

export function setUser(user) {
  session.user = user;
  if (user) storage.setJSON(USER_KEY, user);
  else storage.remove(USER_KEY);
}

export function hasRole(...roles) {
  return Boolean(session.user?.roles?.some((role) => roles.includes(role)));
}

export async function loadTemplates() {
  try {
    session.templates = await get('/api/templates');
    storage.setJSON(TEMPLATES_KEY, session.templates);
  } catch {
    /* offline and never loaded: screens fall back to the template code */
  }
  return session.templates;
}

export function template(code) {
  return session.templates.find((tpl) => tpl.code === code) || null;
}

export function templateName(code) {
  const translated = t(`template.${code}`);
  if (language() !== 'ru' && translated !== `template.${code}`) return translated;
  return template(code)?.name || (translated !== `template.${code}` ? translated : code);
}
