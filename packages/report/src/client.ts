/**
 * The report's browser side: plain ES5-style JavaScript (it runs in the report page as written,
 * no bundler) that draws one Chart.js line chart per panel from the `report-data` JSON block,
 * applies the smoothing control, and reloads a live report. The page's state (smoothing, reload
 * on or off) lives in the URL's fragment, so it survives the reloads of a live report.
 * A chart that fails is reported in its panel and on the console.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var charts = [];
  // Tick labels: as many decimals as the spacing of the ticks needs, so close ticks stay distinct.
  function tick(value, index, ticks) {
    var a = Math.abs(value);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return value.toExponential(2).replace(/\.?0+e/, 'e');
    var spacing = ticks && ticks.length > 1 ? Math.abs(ticks[1].value - ticks[0].value) : 0;
    if (!(spacing > 0)) return String(Number(value.toPrecision(4)));
    var decimals = Math.min(12, Math.max(0, 1 - Math.floor(Math.log10(spacing))));
    return String(Number(value.toFixed(decimals)));
  }

  // Page state in the fragment: #smoothing=0.6&reload=0
  function readState() {
    var state = {};
    location.hash.replace(/^#/, '').split('&').forEach(function (part) {
      var kv = part.split('=');
      if (kv.length === 2) state[decodeURIComponent(kv[0])] = decodeURIComponent(kv[1]);
    });
    return state;
  }
  var state = readState();
  function saveState() {
    var parts = [];
    Object.keys(state).forEach(function (k) { parts.push(encodeURIComponent(k) + '=' + encodeURIComponent(state[k])); });
    try { history.replaceState(null, '', parts.length ? '#' + parts.join('&') : location.pathname + location.search); } catch (e) { /* a page without history */ }
  }

  // TensorBoard's smoothing: an exponential moving average, debiased so that it starts at the first value.
  function smooth(values, weight) {
    if (!(weight > 0)) return values.slice();
    var last = 0, debias = 0;
    return values.map(function (v) {
      if (v === null || !isFinite(v)) return v;
      last = last * weight + (1 - weight) * v;
      debias = debias * weight + (1 - weight);
      return last / debias;
    });
  }
  function points(xs, ys) { return xs.map(function (x, i) { return { x: x, y: ys[i] }; }); }
  var initial = Math.min(0.99, Math.max(0, Number(state.smoothing) || 0));

  data.panels.forEach(function (panel) {
    var canvas = document.getElementById('chart-' + panel.id);
    try {
      var hasY2 = panel.datasets.some(function (d) { return d.axis === 'y2'; });
      var datasets = [];
      var lowerEdge = -1;
      panel.datasets.forEach(function (d) {
        var edge = d.legend === false;
        var line = !d.fill && !edge;
        if (line && d.smooth) {
          // The raw values, faint, under the smoothed line; shown only while smoothing is on.
          datasets.push({
            label: d.label + ' (raw)', data: points(d.x, d.y), yAxisID: d.axis, borderColor: d.color + '55', backgroundColor: d.color + '55',
            borderWidth: 1, borderDash: d.dash || [], pointRadius: 0, pointHoverRadius: 0, fill: false, spanGaps: false, tension: 0,
            hidden: !(initial > 0), inLegend: false, rawOf: datasets.length + 1, order: 1
          });
        }
        datasets.push({
          label: d.label,
          data: points(d.x, d.smooth ? smooth(d.y, initial) : d.y),
          raw: d.smooth ? d.y : null,
          xs: d.x,
          yAxisID: d.axis,
          borderColor: d.color,
          backgroundColor: d.fill ? d.color + '2e' : d.color,
          borderWidth: d.fill || edge ? 0 : 2,
          borderDash: d.dash || [],
          pointRadius: d.points ? (d.showLine === false ? 4 : 3) : 0,
          pointStyle: d.pointStyle || 'circle',
          pointHoverRadius: edge || d.fill ? 0 : 5,
          showLine: d.showLine !== false,
          clip: d.showLine === false ? 6 : undefined,
          fill: d.fill ? lowerEdge : false,
          spanGaps: false,
          tension: 0,
          inLegend: !edge,
          order: 0
        });
        if (edge) lowerEdge = datasets.length - 1;
      });
      var scales = {
        x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 } },
        y: { type: 'linear', position: 'left', ticks: { callback: tick }, title: { display: !!panel.yTitle, text: panel.yTitle || '' } }
      };
      // The x axis spans the runs' steps exactly, the same in every chart.
      if (data.xMax > data.xMin) { scales.x.min = data.xMin; scales.x.max = data.xMax; }
      if (hasY2) scales.y2 = { type: 'linear', position: 'right', ticks: { callback: tick }, grid: { drawOnChartArea: false }, title: { display: !!panel.y2Title, text: panel.y2Title || '' } };
      charts.push(new Chart(canvas, {
        type: 'line',
        data: { datasets: datasets },
        options: {
          animation: false,
          responsive: true,
          maintainAspectRatio: false,
          normalized: true,
          interaction: { mode: 'nearest', axis: 'x', intersect: false },
          scales: scales,
          plugins: {
            legend: { labels: { boxWidth: 12, boxHeight: 8, pointStyleWidth: 12, usePointStyle: data.runs.length > 1, filter: function (item, chartData) { return chartData.datasets[item.datasetIndex].inLegend; } } },
            tooltip: { filter: function (item) { return item.dataset.inLegend && !item.dataset.fill; } }
          }
        }
      }));
    } catch (error) {
      var box = canvas && canvas.parentNode;
      if (box) box.textContent = 'This chart could not be drawn: ' + error;
      console.error('chart ' + panel.id + ':', error);
    }
  });

  // Smoothing: every dense training line (and its band) is redrawn as its moving average.
  var slider = document.getElementById('smoothing');
  var shown = document.getElementById('smoothing-value');
  function applySmoothing(weight) {
    shown.textContent = String(weight);
    charts.forEach(function (chart) {
      chart.data.datasets.forEach(function (d) {
        if (d.raw) d.data = points(d.xs, smooth(d.raw, weight));
        if (d.rawOf !== undefined) d.hidden = !(weight > 0);
      });
      chart.update('none');
    });
    document.body.setAttribute('data-smoothing', String(weight));
  }
  slider.value = String(initial);
  shown.textContent = String(initial);
  document.body.setAttribute('data-smoothing', String(initial));
  slider.addEventListener('input', function () {
    var weight = Number(slider.value);
    applySmoothing(weight);
    if (weight > 0) state.smoothing = String(weight); else delete state.smoothing;
    saveState();
  });

  // A live report reloads itself while its run trains (the file is replaced whole, never half-written).
  if (data.live && data.live.reloadSeconds > 0) {
    var box = document.getElementById('auto-reload');
    if (state.reload === '0') box.checked = false;
    box.addEventListener('change', function () {
      if (box.checked) delete state.reload; else state.reload = '0';
      saveState();
    });
    setInterval(function () { if (box.checked) location.reload(); }, data.live.reloadSeconds * 1000);
  }

  window.grpoReport = { charts: charts, smooth: smooth, applySmoothing: applySmoothing };
  document.body.setAttribute('data-charts-ready', String(charts.length));
})();
`;

/** The report's stylesheet. */
export const STYLES = `
:root { color-scheme: light; --fg: #1d2330; --muted: #5b6475; --line: #dde1e8; --bg: #f6f7f9; --card: #fff; }
* { box-sizing: border-box; }
body { margin: 0; font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header, main { max-width: 1400px; margin: 0 auto; padding: 16px 24px; }
h1 { font-size: 22px; margin: 8px 0 12px; }
h2 { font-size: 17px; margin: 28px 0 10px; }
.summary { display: flex; flex-wrap: wrap; gap: 10px; margin: 0; }
.summary div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 14px; min-width: 130px; }
.summary dt { color: var(--muted); font-size: 12px; }
.summary dd { margin: 2px 0 0; font-size: 18px; font-weight: 600; font-variant-numeric: tabular-nums; }
.summary dd small { font-size: 12px; font-weight: 400; color: var(--muted); }
.settings { display: flex; flex-wrap: wrap; gap: 6px 18px; margin: 0 0 8px; }
.settings div { display: flex; gap: 6px; align-items: baseline; }
.settings dt { color: var(--muted); font-size: 12px; }
.settings dd { margin: 0; }
table.config, table.summary-table { border-collapse: collapse; background: var(--card); margin: 6px 0; }
table.config th, table.config td, table.summary-table th, table.summary-table td { border: 1px solid var(--line); padding: 4px 10px; text-align: left; vertical-align: top; }
table.config th { font-weight: 500; }
table.config thead th, table.summary-table thead th { background: #eef0f4; font-weight: 600; }
table.config.differs tbody th { background: #fff6df; }
table.summary-table td.num { text-align: right; font-variant-numeric: tabular-nums; }
table.summary-table small { color: var(--muted); }
details summary { cursor: pointer; color: var(--muted); margin: 6px 0; }
code { font: 12.5px ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; overflow-wrap: anywhere; }
.swatch { display: inline-block; width: 10px; height: 10px; border-radius: 2px; margin-right: 6px; vertical-align: baseline; }
.controls { display: flex; align-items: center; gap: 8px; margin: 0 0 10px; }
.controls input[type=range] { width: 220px; }
.controls output { font-variant-numeric: tabular-nums; min-width: 2.5em; }
.constants { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 8px 12px; }
.constants .constant { white-space: nowrap; }
.live { background: #e9f5ec; border: 1px solid #b7dfc1; border-radius: 8px; padding: 6px 12px; display: inline-block; margin: 0 0 12px; }
.warn { color: #8a4b00; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(440px, 1fr)); gap: 14px; }
.panel { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 10px 12px 12px; min-width: 0; }
.panel h3 { font-size: 14px; margin: 0 0 6px; }
.chart-box { position: relative; height: 250px; }
.other .chart-box { height: 200px; }
.muted { color: var(--muted); }
table.samples { width: 100%; border-collapse: collapse; background: var(--card); table-layout: fixed; }
table.samples th, table.samples td { border: 1px solid var(--line); padding: 6px 8px; vertical-align: top; text-align: left; }
table.samples thead th { background: #eef0f4; position: sticky; top: 0; }
table.samples tr.step-row th { background: #e4e8f0; }
table.samples td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
table.samples col.prompt { width: 28%; }
table.samples col.reference { width: 14%; }
table.samples col.num { width: 100px; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 24em; overflow-y: auto; }
.pos { color: #1a7f37; } .neg { color: #c2271d; } .na { color: var(--muted); }
`;
