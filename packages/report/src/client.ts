/**
 * The report's browser side: plain ES5-style JavaScript (it runs in the report page as written,
 * no bundler) that draws one Chart.js line chart per panel from the `report-data` JSON block.
 * A chart that fails is reported in its panel and on the console.
 */
export const CLIENT_SCRIPT = String.raw`
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('report-data').textContent);
  var charts = [];
  function tick(value) {
    var a = Math.abs(value);
    if (a !== 0 && (a < 1e-3 || a >= 1e6)) return value.toExponential(2).replace(/\.?0+e/, 'e');
    return String(Number(value.toPrecision(4)));
  }
  data.panels.forEach(function (panel) {
    var canvas = document.getElementById('chart-' + panel.id);
    try {
      var hasY2 = panel.datasets.some(function (d) { return d.axis === 'y2'; });
      var datasets = panel.datasets.map(function (d) {
        return {
          label: d.label,
          data: d.x.map(function (x, i) { return { x: x, y: d.y[i] }; }),
          yAxisID: d.axis,
          borderColor: d.color,
          backgroundColor: d.fill ? d.color + '2e' : d.color,
          borderWidth: d.fill || d.legend === false ? 0 : d.dashed ? 1.5 : 2,
          borderDash: d.dashed ? [6, 4] : [],
          pointRadius: d.points ? 3 : 0,
          pointHoverRadius: d.legend === false || d.fill ? 0 : 4,
          fill: d.fill ? '-1' : false,
          spanGaps: false,
          tension: 0,
          inLegend: d.legend !== false
        };
      });
      var scales = {
        x: { type: 'linear', title: { display: true, text: 'step' }, ticks: { precision: 0 } },
        y: { type: 'linear', position: 'left', ticks: { callback: tick }, title: { display: !!panel.yTitle, text: panel.yTitle || '' } }
      };
      // The x axis spans the run's steps exactly, the same in every chart.
      if (data.summary.lastStep > data.summary.firstStep) { scales.x.min = data.summary.firstStep; scales.x.max = data.summary.lastStep; }
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
            legend: { labels: { boxWidth: 12, filter: function (item, chartData) { return chartData.datasets[item.datasetIndex].inLegend; } } },
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
  window.grpoReport = { charts: charts };
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
table.samples col.num { width: 100px; }
pre { margin: 0; white-space: pre-wrap; overflow-wrap: anywhere; font: 12.5px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; max-height: 24em; overflow-y: auto; }
.pos { color: #1a7f37; } .neg { color: #c2271d; } .na { color: var(--muted); }
`;
