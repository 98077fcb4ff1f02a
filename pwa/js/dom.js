// Tiny DOM builders: every text goes in as a text node, never as HTML.

const SVG_NS = 'http://www.w3.org/2000/svg';
const PROPS = new Set(['value', 'checked', 'selected', 'disabled', 'hidden', 'required']);

function fill(el, attrs, children) {
  for (const [name, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (name.startsWith('on') && typeof value === 'function') {
      el.addEventListener(name.slice(2), value);
    } else if (name === 'class') {
      el.setAttribute('class', value);
    } else if (name === 'dataset') {
      Object.assign(el.dataset, value);
    } else if (PROPS.has(name) && !(el instanceof SVGElement)) {
      el[name] = value;
    } else {
      el.setAttribute(name, value === true ? '' : String(value));
    }
  }
  append(el, children);
  return el;
}

export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

export function h(tag, attrs, ...children) {
  return fill(document.createElement(tag), attrs, children);
}

export function svg(tag, attrs, ...children) {
  return fill(document.createElementNS(SVG_NS, tag), attrs, children);
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}

let uid = 0;
export function nextId(prefix = 'f') {
  uid += 1;
  return `${prefix}-${uid}`;
}

/** A labelled form field: label, control, optional hint and error (linked for screen readers). */
export function field(label, control, { hint, error } = {}) {
  const id = control.id || nextId();
  control.id = id;
  const described = [];
  const hintEl = hint ? h('p', { class: 'hint', id: `${id}-hint` }, hint) : null;
  if (hintEl) described.push(hintEl.id);
  const errorEl = h('p', { class: 'field-error', id: `${id}-error`, role: 'alert', hidden: !error }, error || '');
  described.push(errorEl.id);
  control.setAttribute('aria-describedby', described.join(' '));
  return h('div', { class: 'field' }, h('label', { for: id }, label), control, hintEl, errorEl);
}

export function setFieldError(control, message) {
  const errorEl = document.getElementById(`${control.id}-error`);
  if (!errorEl) return;
  errorEl.textContent = message || '';
  errorEl.hidden = !message;
  if (message) control.setAttribute('aria-invalid', 'true');
  else control.removeAttribute('aria-invalid');
}

export function toast(message) {
  const el = document.getElementById('toast');
  if (!el) return;
  el.textContent = message;
  el.classList.add('shown');
  clearTimeout(toast.timer);
  toast.timer = setTimeout(() => el.classList.remove('shown'), 4000);
}

/** Replace the children of `el` (null and false children are skipped). */
export function replace(el, ...children) {
  return append(clear(el), children);
}
