export { writeReport, readRun, runDirNames, writeAtomic, type ReportOptions } from './write.js';
export { LiveReportSink, type LiveReportOptions } from './live.js';
export {
  renderReport,
  renderRuns,
  summarize,
  escapeHtml,
  jsonForScript,
  formatNumber,
  type LiveOptions,
  type RenderOptions,
  type ReportSummary,
  type RunData,
} from './render.js';
export {
  planPanels,
  planReport,
  unitOf,
  RUN_COLORS,
  type ConstantMetric,
  type DatasetSpec,
  type PanelSpec,
  type ReportPlan,
  type RunMetrics,
} from './panels.js';
export {
  flattenConfig,
  parseMetrics,
  parseRunConfig,
  parseSamples,
  readMetricsFile,
  readRunConfig,
  readSamplesFile,
  type MetricsRow,
  type RunConfig,
  type SampleRecord,
} from './data.js';
