// History: five uPlot charts from /api/admin/history for the chosen range, widget and bucket.
import uPlot from '../vendor/uPlot.esm.js';

const PALETTE = ['#1d4ed8', '#b91c1c', '#047857', '#b45309', '#7c3aed', '#0e7490', '#be185d', '#4d7c0f', '#374151'];
const form = document.getElementById('range');
const charts = {};

function width(node) { return Math.max(260, node.clientWidth - 4); }

function draw(id, xs, series) {
  const node = document.getElementById(id);
  charts[id]?.destroy();
  node.replaceChildren();
  if (!series.length) { node.textContent = 'No data in this range.'; node.dataset.drawn = 'empty'; return; }
  const opts = {
    width: width(node), height: 220,
    scales: {x: {time: true}},
    series: [{}, ...series.map(([label], i) => ({label, stroke: PALETTE[i % PALETTE.length], width: 2,
                                                 points: {show: xs.length < 60}}))],
    axes: [{}, {size: 50}],
    legend: {live: false},
  };
  charts[id] = new uPlot(opts, [xs, ...series.map(([, values]) => values)], node);
  node.dataset.drawn = String(series.length);
}

async function load() {
  const params = new URLSearchParams(new FormData(form));
  if (!params.get('widget')) params.delete('widget');
  // per hour, the last 3 days at most (the server reads the ledger for hours, the day totals for days)
  if (params.get('bucket') === 'hour') params.set('days', String(Math.min(3, Number(params.get('days')))));
  const r = await fetch(`/api/admin/history?${params}`, {headers: {accept: 'application/json'}});
  if (r.status === 401) { location.assign('/admin/login?next=/admin/history'); return; }
  if (!r.ok) return;
  const d = await r.json();
  const xs = d.buckets;
  draw('chart-conversations', xs, [['ended', d.conversations], ['failed', d.failed]]);
  draw('chart-minutes', xs, [['minutes', d.minutes]]);
  draw('chart-reasons', xs, Object.entries(d.end_reasons));
  draw('chart-failures', xs, Object.entries(d.failure_reasons));
  draw('chart-refusals', xs, Object.entries(d.refusals));
  document.body.dataset.charts = 'drawn';
}

form.addEventListener('change', load);
form.addEventListener('submit', (e) => { e.preventDefault(); load(); });
let resizing;
addEventListener('resize', () => {
  clearTimeout(resizing);
  resizing = setTimeout(() => {
    for (const [id, chart] of Object.entries(charts)) chart.setSize({width: width(document.getElementById(id)), height: 220});
  }, 150);
});
load();
