export { writeReport, type ReportOptions } from './write.js';
export { renderReport, summarize, escapeHtml, jsonForScript, formatNumber, type RenderOptions, type ReportSummary } from './render.js';
export { planPanels, type PanelSpec, type DatasetSpec } from './panels.js';
export { parseMetrics, parseSamples, readMetricsFile, readSamplesFile, type MetricsRow, type SampleRecord } from './data.js';
