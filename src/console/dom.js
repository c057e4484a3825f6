// Small DOM helpers. Model output and user text only ever go through
// textContent: nothing here parses HTML.

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

// h('li.item', {dataset: {id}}, 'text', child) builds an element.
export function h(tag, props = {}, ...children) {
  const [name, ...classes] = tag.split('.');
  const el = document.createElement(name);
  if (classes.length) el.className = classes.join(' ');
  for (const [k, v] of Object.entries(props)) {
    if (k === 'dataset') Object.assign(el.dataset, v);
    else if (k.startsWith('on')) el.addEventListener(k.slice(2), v);
    else if (k in el && typeof v !== 'string') el[k] = v;
    else if (v !== false && v != null) el.setAttribute(k, v === true ? '' : v);
  }
  for (const c of children.flat()) {
    if (c != null && c !== false) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

// Text with paragraphs and fenced code blocks kept, as elements.
export function richText(text) {
  const out = document.createDocumentFragment();
  const parts = text.split(/^```/m);
  parts.forEach((part, i) => {
    if (i % 2 === 1) {
      const nl = part.indexOf('\n');
      const lang = nl >= 0 ? part.slice(0, nl).trim() : '';
      const code = nl >= 0 ? part.slice(nl + 1) : part;
      const pre = h('pre', lang ? { 'data-lang': lang } : {}, h('code', {}, code.replace(/\n$/, '')));
      out.append(pre);
    } else {
      for (const para of part.split(/\n{2,}/)) {
        if (para.trim()) out.append(h('p', {}, para.replace(/^\n+|\n+$/g, '')));
      }
    }
  });
  return out;
}

// Shows `text` in the page's status line (role=status, read by screen readers).
export function say(text, kind = 'info') {
  const el = $('#status');
  el.textContent = text || '';
  el.dataset.kind = kind;
}

export function show(id) {
  for (const v of $$('main > section')) v.hidden = v.id !== id;
  for (const b of $$('#nav button[data-view]')) {
    b.setAttribute('aria-current', b.dataset.view === id ? 'page' : 'false');
  }
}
