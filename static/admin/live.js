// Live: the tables (conversations, waiting lines) refresh every 3 s from /api/admin/live (the page works without this; End is a form).
const csrf = document.querySelector('meta[name="csrf-token"]')?.content ?? '';
const root = document.getElementById('live');

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  node.append(...children);
  return node;
}

function row(r) {
  const id = r.conversation_id;
  const link = id ? el('a', {href: `/admin/conversations/${encodeURIComponent(id)}`}, id) : r.local_id;
  const end = id
    ? el('form', {method: 'post', action: `/admin/live/${encodeURIComponent(id)}/end`},
        el('input', {type: 'hidden', name: 'csrf', value: csrf}),
        el('button', {type: 'submit', class: 'danger', 'aria-label': `End ${id}`}, 'End'))
    : '';
  return el('tr', {'data-conversation': id || r.local_id},
    el('td', {}, link), el('td', {}, `${Math.floor(r.age_s)} s`),
    el('td', {class: 'wide'}, r.status + (r.started ? ', replica joined' : '')),
    el('td', {}, el('span', {class: `pill ${r.visitor}`}, r.visitor.replace('_', ' '))), el('td', {}, end));
}

function place(p, i) {
  const state = p.state + (p.turn_left_s === null ? '' : `, ${Math.floor(p.turn_left_s)} s left to join`);
  return el('tr', {'data-place': String(i + 1)},
    el('td', {}, p.position ? String(p.position) : 'next'), el('td', {}, `${Math.floor(p.age_s)} s`),
    el('td', {class: 'wide'}, state),
    el('td', {}, el('span', {class: `pill ${p.visitor}`}, p.visitor.replace('_', ' '))));
}

function waitingLine(w) {
  if (!w.line.places.length) return [];
  return [
    el('h3', {}, 'Waiting line ',
      el('span', {class: 'muted'}, `${w.line.waiting} waiting, ${w.line.length} in line`)),
    el('div', {class: 'scroll'}, el('table', {class: 'line'},
      el('caption', {class: 'sr'}, `Waiting line of ${w.widget}`),
      el('thead', {}, el('tr', {}, el('th', {scope: 'col'}, 'Place'), el('th', {scope: 'col'}, 'In line'),
        el('th', {scope: 'col', class: 'wide'}, 'State'), el('th', {scope: 'col'}, 'Visitor'))),
      el('tbody', {}, ...w.line.places.map(place)))),
  ];
}

function section(w) {
  const count = `${w.conversations.length}${w.max_concurrent ? ` of ${w.max_concurrent}` : ''} live`;
  const body = el('div', {class: 'scroll'}, el('table', {},
    el('caption', {class: 'sr'}, `Live conversations of ${w.widget}`),
    el('thead', {}, el('tr', {}, el('th', {scope: 'col'}, 'Conversation'), el('th', {scope: 'col'}, 'Age'),
      el('th', {scope: 'col', class: 'wide'}, 'State'), el('th', {scope: 'col'}, 'Visitor'),
      el('th', {scope: 'col'}, el('span', {class: 'sr'}, 'Action')))),
    el('tbody', {}, ...w.conversations.map(row))));
  return el('section', {class: 'widget', 'data-widget': w.widget},
    el('h2', {}, `${w.widget} `, el('span', {class: 'muted'}, count)),
    ...(w.conversations.length ? [body] : []), ...waitingLine(w));
}

async function refresh() {
  // never while a button of the old table has the focus: a keyboard user would lose their place
  if (root.contains(document.activeElement) && document.activeElement !== document.body) return;
  try {
    const r = await fetch('/api/admin/live', {headers: {accept: 'application/json'}, credentials: 'same-origin'});
    if (r.status === 401) { location.assign('/admin/login?next=/admin/live'); return; }
    if (!r.ok) return;
    const data = await r.json();
    const busy = data.widgets.filter((w) => w.conversations.length);
    const shown = data.widgets.filter((w) => w.conversations.length || w.line.places.length);
    const idle = data.widgets.filter((w) => !shown.includes(w)).map((w) => w.widget);
    const live = busy.reduce((n, w) => n + w.conversations.length, 0);
    const inLine = data.widgets.reduce((n, w) => n + w.line.length, 0);
    const n = data.widgets.length;
    root.replaceChildren(
      el('p', {class: 'summary'}, `${live} live in ${busy.length} of ${n} widget${n === 1 ? '' : 's'}`
        + `${inLine ? `, ${inLine} in line` : ''}.`),
      ...shown.map(section),
      ...(idle.length ? [el('p', {class: 'muted idle'}, `Nothing live or waiting in ${idle.join(', ')}.`)] : []));
  } catch { /* the next round tries again */ }
}

setInterval(refresh, 3000);
