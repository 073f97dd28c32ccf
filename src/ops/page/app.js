// The live web view: takes the whole state once from /events, then a sample a second, and
// redraws. Plain browser JavaScript, no build step and no library.
'use strict';

const PALETTE = ['#2874a6', '#c0392b', '#2e8540', '#7d3c98', '#d68910', '#138d75', '#a04000', '#5d6d7e', '#b03a2e', '#1f618d'];
const view = { name: '', samples: [], latest: null, events: [] };
const colours = new Map();

function colour(ministry) {
  if (!colours.has(ministry)) colours.set(ministry, PALETTE[colours.size % PALETTE.length]);
  return colours.get(ministry);
}

function el(tag, attrs, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'class') e.className = v;
    else if (k === 'style') e.style.cssText = v;
    else e.setAttribute(k, v);
  }
  for (const c of children) e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return e;
}

function fill(tbody, rows) {
  tbody.replaceChildren(...rows);
}

/** Subtrees nest by path: /a/b sits under /a when both are ministries' subtrees. */
function drawMap(ministries) {
  const sorted = [...ministries].sort((a, b) => a.subtree.localeCompare(b.subtree));
  const under = (parent, child) => parent === '/' ? child !== '/' : child.startsWith(parent + '/');
  const item = (m) => {
    const li = el('li', { 'data-map-subtree': m.subtree },
      el('span', { class: 'sub', style: `background:${colour(m.id)}` }, m.subtree),
      el('span', { class: 'staff' }, `${m.id}: minister ${m.minister || '?'}${m.clerks.length ? ', clerks ' + m.clerks.join(', ') : ''} · term ${m.term}${m.down ? ' · DOWN' : ''}`));
    const kids = sorted.filter((k) => k !== m && under(m.subtree, k.subtree) && !sorted.some((mid) => mid !== m && mid !== k && under(m.subtree, mid.subtree) && under(mid.subtree, k.subtree)));
    if (kids.length) li.append(el('ul', {}, ...kids.map(item)));
    return li;
  };
  const roots = sorted.filter((m) => !sorted.some((p) => p !== m && under(p.subtree, m.subtree)));
  document.getElementById('map').replaceChildren(...roots.map(item));
}

function drawStatus(sample) {
  const st = sample && sample.status;
  const summary = document.getElementById('summary');
  if (!st) {
    summary.textContent = sample && sample.error ? `status unavailable: ${sample.error}` : 'no status yet';
    return;
  }
  summary.textContent = `president ${st.president || '(none)'} · cluster term ${st.clusterTerm} · ${st.ministries.length} ministries · idle ${st.idle.join(', ') || 'none'}`;
  drawMap(st.ministries);
  fill(document.querySelector('#ministries tbody'), st.ministries.map((m) => {
    const state = m.down ? el('span', { class: 'badge bad' }, 'down') : m.shortStaffed ? el('span', { class: 'badge warn' }, 'short-staffed') : el('span', { class: 'badge ok' }, 'serving');
    return el('tr', { 'data-ministry': m.id, 'data-subtree': m.subtree, 'data-minister': m.minister },
      el('td', {}, el('span', { class: 'chip', style: `background:${colour(m.id)}` }), m.id), el('td', {}, m.subtree),
      el('td', { class: 'minister' }, m.minister), el('td', {}, m.clerks.join(', ')), el('td', {}, m.term), el('td', {}, m.commitIndex), el('td', {}, state));
  }));
  fill(document.querySelector('#nodes tbody'), st.nodes.map((n) => el('tr', { 'data-node': n.id, 'data-role': n.role },
    el('td', {}, n.id),
    el('td', {}, el('span', { class: `badge ${n.up ? (n.caughtUp || !n.ministry ? 'ok' : 'warn') : 'bad'}` }, n.up ? (n.caughtUp || !n.ministry ? 'up' : 'catching up') : 'down')),
    el('td', {}, n.role),
    el('td', {}, n.ministry ? el('span', { class: 'chip', style: `background:${colour(n.ministry)}` }) : '', n.ministry),
    el('td', {}, n.ministry ? n.commit : ''), el('td', {}, n.ministry ? n.applied : ''))));
}

function line(svg, series, colours, max) {
  const w = 300, h = 80;
  const pts = (ys) => ys.map((y, i) => `${(i / Math.max(1, ys.length - 1)) * w},${h - (y / max) * (h - 4) - 2}`).join(' ');
  svg.replaceChildren(...series.map((ys, i) => {
    const p = document.createElementNS('http://www.w3.org/2000/svg', 'polyline');
    p.setAttribute('points', pts(ys));
    p.setAttribute('stroke', colours[i % colours.length]);
    return p;
  }));
}

function drawCharts() {
  const s = view.samples;
  const chart = (id, label, ys) => {
    const max = Math.max(1, ...ys);
    line(document.getElementById(id), [ys], ['#2874a6'], max * 1.1);
    document.getElementById(label).textContent = ys.length ? `now ${Math.round(ys[ys.length - 1])}, max ${Math.round(Math.max(...ys))}` : '';
  };
  chart('c-commits', 'v-commits', s.map((x) => x.rates.commits));
  chart('c-ring', 'v-ring', s.map((x) => x.rates.ringMessages));
  chart('c-bridge', 'v-bridge', s.map((x) => x.rates.bridgeMessages));
  const threads = [...new Set(s.flatMap((x) => Object.keys(x.utilisation)))].sort();
  line(document.getElementById('c-elu'), threads.map((t) => s.map((x) => 100 * (x.utilisation[t] || 0))), PALETTE, 100);
  const last = s[s.length - 1];
  document.getElementById('v-elu').textContent = last ? threads.map((t) => `${t} ${Math.round(100 * (last.utilisation[t] || 0))}%`).join(' · ') : '';
}

function drawTimeline() {
  const items = view.events.slice(-200).reverse().map((e) => el('li', { 'data-kind': e.kind },
    el('time', {}, new Date(e.at).toLocaleTimeString()), el('span', { class: `badge kind k-${e.kind}` }, e.kind), e.text));
  document.getElementById('timeline').replaceChildren(...(items.length ? items : [el('li', { class: 'hint' }, 'nothing has changed since this page opened the stream')]));
}

function redraw() {
  document.getElementById('source').textContent = view.name;
  drawStatus(view.latest);
  drawCharts();
  drawTimeline();
}

function connect() {
  const conn = document.getElementById('conn');
  const es = new EventSource('events');
  es.addEventListener('state', (m) => {
    Object.assign(view, JSON.parse(m.data));
    conn.textContent = 'live';
    conn.className = 'badge ok';
    redraw();
  });
  es.addEventListener('sample', (m) => {
    const { sample, events } = JSON.parse(m.data);
    view.latest = sample;
    view.samples.push({ at: sample.at, rates: sample.rates, utilisation: sample.utilisation });
    const horizon = sample.at - 5 * 60_000;
    while (view.samples.length > 1 && view.samples[0].at < horizon) view.samples.shift();
    view.events.push(...events);
    redraw();
  });
  es.onerror = () => {
    conn.textContent = 'reconnecting';
    conn.className = 'badge bad';
  };
}

connect();
