// The knowledge base (issue 18): search and read articles; employees write and edit them in
// Markdown; the task card lists the articles linked to a task and lets employees link one.
// An article's HTML is sanitised by the server (nh3); it is still rebuilt here node by node
// from an allow-list (no innerHTML), so nothing the page does not expect can reach it.

import { ApiError, get, newKey, query, request } from './api.js';
import { clear, field, h, replace, setFieldError } from './dom.js';
import { formatDateTime, t } from './i18n.js';
import { hasRole } from './session.js';
import { button, errorBox, infoBox, pageTitle } from './ui.js';

const TAGS = new Set(['p', 'br', 'hr', 'h1', 'h2', 'h3', 'h4', 'h5', 'h6', 'ul', 'ol', 'li', 'strong', 'em', 'b', 'i', 's', 'del',
  'code', 'pre', 'blockquote', 'a', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'img', 'span', 'div', 'sup', 'sub']);
const SAFE_URL = /^(https?:|mailto:|tel:|\/|#)/i;

function employee() {
  return hasRole('engineer', 'checker', 'office', 'admin');
}

/** The server's sanitised HTML as DOM nodes built one by one; unknown tags keep their text. */
export function articleBody(html) {
  const doc = new DOMParser().parseFromString(`<body>${html || ''}</body>`, 'text/html');
  const copy = (node) => {
    if (node.nodeType === Node.TEXT_NODE) return document.createTextNode(node.textContent);
    if (node.nodeType !== Node.ELEMENT_NODE) return null;
    const tag = node.tagName.toLowerCase();
    const children = Array.from(node.childNodes, copy).filter(Boolean);
    if (!TAGS.has(tag)) return children.length ? h('span', {}, children) : null;
    const attrs = {};
    const href = node.getAttribute('href');
    if (tag === 'a' && href && SAFE_URL.test(href)) Object.assign(attrs, { href, rel: 'noopener noreferrer', target: '_blank' });
    const src = node.getAttribute('src');
    if (tag === 'img' && src && SAFE_URL.test(src)) Object.assign(attrs, { src, alt: node.getAttribute('alt') || '' });
    if ((tag === 'th' || tag === 'td') && node.getAttribute('align')) attrs.class = `align-${node.getAttribute('align')}`;
    return h(tag, attrs, children);
  };
  return h('div', { class: 'kb-body', id: 'kb-body' }, Array.from(doc.body.childNodes, copy).filter(Boolean));
}

function articleRow(article) {
  return h('li', { class: 'task-row' },
    h('a', { href: `#/kb/${article.id}`, class: 'task-link kb-link', dataset: { articleId: String(article.id) } },
      h('span', { class: 'task-title' }, article.title),
      h('span', { class: 'task-meta' },
        article.tags.length ? `${article.tags.join(', ')} · ` : '',
        article.public ? t('kb.public') : t('kb.internal'), ' · ', formatDateTime(article.updated_at))));
}

// --- list and search -------------------------------------------------------------------

export async function renderKb(main, { params, isCurrent }) {
  const q = (params.q || '').trim();
  let items = [];
  let error = null;
  try {
    const path = q ? `/api/kb/search${query({ q })}` : `/api/kb/articles${query({ tag: params.tag })}`;
    items = (await get(path)).items;
  } catch (err) {
    error = err;
  }
  if (!isCurrent()) return;
  const box = h('input', { type: 'search', name: 'q', id: 'kb-q', value: q, autocomplete: 'off' });
  replace(main,
    pageTitle(t('kb.title'), employee() ? h('a', { href: '#/kb/new', class: 'btn btn-primary', id: 'kb-new' }, t('kb.new')) : null),
    h('form', {
      class: 'card form inline-form',
      role: 'search',
      id: 'kb-search',
      onsubmit: (event) => {
        event.preventDefault();
        location.hash = `#/kb${query({ q: box.value.trim() })}`;
      },
    }, field(t('kb.search'), box), button(t('kb.find'), null, { type: 'submit' })),
    params.tag ? infoBox(t('kb.tagged', { tag: params.tag })) : null,
    errorBox(error, { title: t('common.failed') }),
    items.length
      ? h('ul', { class: 'task-list', id: 'kb-list' }, items.map(articleRow))
      : h('p', { class: 'empty' }, q ? t('kb.nothing_found', { q }) : t('kb.empty')));
}

// --- one article -----------------------------------------------------------------------

export async function renderArticle(main, { id, isCurrent }) {
  let article = null;
  let error = null;
  try {
    article = await get(`/api/kb/articles/${id}`);
  } catch (err) {
    error = err;
  }
  if (!isCurrent()) return;
  if (!article) {
    replace(main, pageTitle(t('kb.title')), errorBox(error, { title: t('common.failed') }));
    return;
  }
  replace(main,
    h('article', { class: 'kb-article', dataset: { articleId: String(article.id) } },
      pageTitle(article.title, employee() ? h('a', { href: `#/kb/${article.id}/edit`, class: 'btn btn-secondary', id: 'kb-edit' }, t('kb.edit')) : null),
      h('p', { class: 'task-meta' },
        article.public ? t('kb.public') : t('kb.internal'),
        article.author ? ` · ${article.author.full_name}` : '',
        ' · ', formatDateTime(article.updated_at)),
      article.tags.length ? h('p', { class: 'task-chips' }, article.tags.map((tag) => [h('a', { href: `#/kb?tag=${encodeURIComponent(tag)}`, class: 'chip chip-plain' }, tag), ' '])) : null,
      h('section', { class: 'card' }, articleBody(article.body_html))));
}

// --- write and edit (employees) --------------------------------------------------------

export async function renderArticleForm(main, { id, isCurrent }) {
  let article = null;
  let error = null;
  if (id) {
    try {
      article = await get(`/api/kb/articles/${id}`);
    } catch (err) {
      error = err;
    }
  }
  if (!isCurrent()) return;
  const title = h('input', { name: 'title', id: 'kb-title', required: true, maxlength: 300, value: article?.title || '' });
  const tags = h('input', { name: 'tags', id: 'kb-tags', value: (article?.tags || []).join(', '), autocomplete: 'off' });
  const body = h('textarea', { name: 'body', id: 'kb-body-src', rows: 14, value: article?.body || '' });
  const pub = h('input', { type: 'checkbox', name: 'public', id: 'kb-public', checked: Boolean(article?.public) });
  const status = h('div', { 'aria-live': 'polite' });

  async function save(event) {
    event.preventDefault();
    setFieldError(title, '');
    if (!title.value.trim()) {
      setFieldError(title, t('kb.title_needed'));
      return;
    }
    const data = {
      title: title.value.trim(),
      body: body.value,
      tags: tags.value.split(',').map((x) => x.trim()).filter(Boolean),
      public: pub.checked,
    };
    try {
      const saved = (await request(id ? `/api/kb/articles/${id}` : '/api/kb/articles', {
        method: id ? 'PATCH' : 'POST',
        body: data,
        idempotencyKey: id ? undefined : newKey(),
      })).data;
      location.hash = `#/kb/${saved.id}`;
    } catch (err) {
      replace(status, errorBox(err instanceof ApiError ? err : { detail: t('common.offline_not_cached') }, { title: t('common.failed') }));
    }
  }

  replace(main,
    pageTitle(id ? t('kb.edit') : t('kb.new')),
    errorBox(error, { title: t('common.failed') }),
    hasRole('engineer', 'checker', 'office', 'admin') ? h('form', { class: 'card form', id: 'kb-form', onsubmit: save },
      field(t('kb.article_title'), title),
      field(t('kb.tags'), tags, { hint: t('kb.tags_hint') }),
      field(t('kb.body'), body, { hint: t('kb.markdown_hint') }),
      h('div', { class: 'check' }, pub, h('label', { for: pub.id }, t('kb.make_public'))),
      status,
      button(t('kb.save'), null, { type: 'submit', kind: 'primary' })) : infoBox(t('kb.employees_only'), 'error'));
}

// --- the task card's hook ----------------------------------------------------------------

/** The articles linked to a task; employees find and link another. Fills itself in. */
export function articleLinks(taskId) {
  const section = h('section', { class: 'card', 'aria-labelledby': 'kb-task-h', id: 'kb-task' });
  const list = h('div', {});
  const found = h('div', { 'aria-live': 'polite' });
  const box = h('input', { type: 'search', name: 'kb_q', id: 'kb-task-q', autocomplete: 'off' });

  async function refresh() {
    let linked = [];
    try {
      linked = await get(`/api/tasks/${taskId}/articles`);
    } catch {
      linked = [];
    }
    replace(list, linked.length
      ? h('ul', { class: 'plain-list', id: 'kb-task-list' }, linked.map((a) => h('li', {}, h('a', { href: `#/kb/${a.id}` }, a.title))))
      : h('p', { class: 'empty' }, t('kb.none_linked')));
    section.hidden = !linked.length && !employee();
  }

  async function link(article) {
    try {
      await request(`/api/tasks/${taskId}/articles`, { method: 'POST', body: { article_id: article.id } });
      clear(found);
      box.value = '';
      await refresh();
    } catch (err) {
      replace(found, errorBox(err instanceof ApiError ? err : { detail: t('common.offline_not_cached') }));
    }
  }

  async function search(event) {
    event.preventDefault();
    const q = box.value.trim();
    if (!q) return;
    try {
      const items = (await get(`/api/kb/search${query({ q })}`)).items;
      replace(found, items.length
        ? h('ul', { class: 'plain-list', id: 'kb-task-found' }, items.slice(0, 10).map((a) => h('li', {},
          h('a', { href: `#/kb/${a.id}` }, a.title), ' ',
          button(t('kb.link'), () => link(a), { name: 'kb-link', kind: 'ghost' }))))
        : h('p', { class: 'empty' }, t('kb.nothing_found', { q })));
    } catch (err) {
      replace(found, errorBox(err));
    }
  }

  replace(section,
    h('h2', { id: 'kb-task-h' }, t('kb.task_title')),
    list,
    employee() ? h('form', { class: 'form', id: 'kb-task-form', onsubmit: search },
      field(t('kb.find_to_link'), box), button(t('kb.find'), null, { type: 'submit' }), found) : null);
  section.hidden = true;
  refresh();
  return section;
}
