/**
 * The playground page: controls, charts and samples here; training in a worker (worker.ts). The
 * page only sends messages and draws what comes back, so it stays responsive during a step.
 */
import { CategoryScale, Chart, Legend, LinearScale, LineController, LineElement, PointElement, Title, Tooltip } from 'chart.js';
import { zipSync } from 'fflate';
import { compileReward, DEFAULT_REWARD } from './compile.js';
import type { FromWorker, ToWorker } from './protocol.js';
import { DEFAULT_SETTINGS, type PlaygroundSettings, type StepView } from './settings.js';

Chart.register(LineController, LineElement, PointElement, LinearScale, CategoryScale, Title, Legend, Tooltip);

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

const worker = new Worker(new URL('./worker.ts', import.meta.url), { type: 'module' });
const send = (message: ToWorker) => worker.postMessage(message);

/** What the page knows of the run; also read by the end-to-end test (`window.playground`). */
const state = {
  phase: 'loading' as 'loading' | 'ready' | 'running' | 'error',
  backend: '',
  steps: [] as StepView[],
  errors: [] as string[],
};

function line(id: string, label: string, color: string, max?: number): Chart<'line'> {
  return new Chart($<HTMLCanvasElement>(`chart-${id}`), {
    type: 'line',
    data: { labels: [], datasets: [{ label, data: [], borderColor: color, backgroundColor: color, pointRadius: 2, tension: 0 }] },
    options: {
      animation: false,
      responsive: false,
      scales: { x: { title: { display: true, text: 'step' } }, y: max === undefined ? {} : { min: 0, max } },
      plugins: { title: { display: true, text: label } },
    },
  });
}
const charts = {
  reward: line('reward', 'reward (mean)', '#1f77b4'),
  kl: line('kl', 'KL(π‖π_ref)', '#d62728'),
  accuracy: line('accuracy', 'accuracy (task_accuracy)', '#2ca02c', 1),
};

function settings(): PlaygroundSettings {
  const num = (id: string, fallback: number) => {
    const v = Number($<HTMLInputElement>(id).value);
    return Number.isFinite(v) ? v : fallback;
  };
  return {
    backend: $<HTMLSelectElement>('backendChoice').value,
    seed: num('seed', DEFAULT_SETTINGS.seed),
    learningRate: num('lr', DEFAULT_SETTINGS.learningRate),
    groupSize: num('groupSize', DEFAULT_SETTINGS.groupSize),
    beta: num('beta', DEFAULT_SETTINGS.beta),
    promptsPerStep: num('promptsPerStep', DEFAULT_SETTINGS.promptsPerStep),
    maxNewTokens: num('maxNewTokens', DEFAULT_SETTINGS.maxNewTokens),
    temperature: num('temperature', DEFAULT_SETTINGS.temperature),
  };
}

function setPhase(phase: typeof state.phase, status: string): void {
  state.phase = phase;
  $('status').textContent = status;
  $<HTMLButtonElement>('start').disabled = phase !== 'ready';
  $<HTMLButtonElement>('pause').disabled = phase !== 'running';
  $<HTMLButtonElement>('reset').disabled = phase === 'loading';
  $<HTMLButtonElement>('download').disabled = phase !== 'ready' || state.steps.length === 0;
  $<HTMLButtonElement>('applyReward').disabled = phase === 'loading';
  $<HTMLButtonElement>('builtinReward').disabled = phase === 'loading';
}

function showError(message: string | null): void {
  $('error').hidden = message === null;
  $('error').textContent = message ?? '';
  if (message !== null) state.errors.push(message);
}

function clearCharts(): void {
  for (const chart of Object.values(charts)) {
    chart.data.labels = [];
    chart.data.datasets[0]!.data = [];
    chart.update();
  }
}

function showStep(view: StepView): void {
  state.steps.push(view);
  for (const [key, chart] of Object.entries(charts)) {
    chart.data.labels!.push(view.step);
    chart.data.datasets[0]!.data.push(view[key as keyof typeof charts]);
    chart.update();
  }
  $('samplesStep').textContent = `(step ${view.step}, ${view.seconds.toFixed(1)} s)`;
  const body = $('samplesBody');
  body.replaceChildren(
    ...view.samples.map((s) => {
      const row = document.createElement('tr');
      for (const [text, cls] of [
        [s.prompt, 'prompt'],
        [s.completion, 'completion'],
        [s.reward.toFixed(2), 'reward'],
        [s.advantage.toFixed(3), 'advantage'],
      ] as const) {
        const cell = document.createElement('td');
        cell.className = cls;
        cell.textContent = text;
        row.append(cell);
      }
      return row;
    }),
  );
}

// Requests the worker answers by id (log-probs, checkpoint files, reward checks).
let nextId = 0;
const pending = new Map<number, (value: unknown) => void>();
function ask<T>(message: (id: number) => ToWorker): Promise<T> {
  const id = ++nextId;
  return new Promise<T>((resolve) => {
    pending.set(id, resolve as (value: unknown) => void);
    send(message(id));
  });
}

worker.onmessage = (event: MessageEvent<FromWorker>) => {
  const message = event.data;
  switch (message.type) {
    case 'ready':
      state.backend = message.backend;
      $('backend').textContent = `backend ${message.backend}`;
      setPhase('ready', 'Ready: press Start.');
      break;
    case 'step':
      showStep(message.view);
      $('status').textContent = `Step ${message.view.step}: reward ${message.view.reward.toFixed(3)}, KL ${message.view.kl.toFixed(4)}`;
      break;
    case 'idle':
      if (state.phase === 'running') setPhase('ready', `Paused after step ${message.step}.`);
      break;
    case 'error':
      showError(`${message.where === 'reward' ? 'Reward function: ' : ''}${message.message}`);
      if (message.where === 'setup') setPhase('error', 'The policy could not be loaded.');
      break;
    default: {
      const resolve = pending.get(message.id);
      pending.delete(message.id);
      resolve?.(message.type === 'logprobs' ? message.values : message.type === 'files' ? message.files : message.error);
    }
  }
};
worker.onerror = (event) => {
  showError(`The training worker failed: ${event.message}`);
  setPhase('error', 'Stopped.');
};

function reset(): void {
  state.steps = [];
  clearCharts();
  $('samplesBody').replaceChildren();
  showError(null);
  setPhase('loading', 'Loading the SFT policy…');
  send({ type: 'reset', settings: settings() });
}

async function applyReward(source: string | null): Promise<void> {
  const compiled = source === null ? { code: null } : compileReward(source);
  const error = 'error' in compiled ? compiled.error : await ask<string | null>((id) => ({ type: 'reward', id, code: compiled.code }));
  $('rewardError').hidden = error === null;
  $('rewardError').textContent = error ?? '';
  if (error === null) $('rewardStatus').textContent = source === null ? "Reward: the task's own (task_accuracy)." : 'Reward: yours (from the next step on).';
}

async function downloadCheckpoint(): Promise<Record<string, Uint8Array>> {
  const files = await ask<Record<string, Uint8Array>>((id) => ({ type: 'files', id }));
  const zip = zipSync(Object.fromEntries(Object.entries(files).map(([name, bytes]) => [`policy/${name}`, bytes])));
  const link = document.createElement('a');
  link.href = URL.createObjectURL(new Blob([zip as Uint8Array<ArrayBuffer>], { type: 'application/zip' }));
  link.download = `grpo-playground-step-${state.steps.at(-1)?.step ?? 0}.zip`;
  link.click();
  setTimeout(() => URL.revokeObjectURL(link.href), 10_000);
  return files;
}

$<HTMLTextAreaElement>('rewardCode').value = DEFAULT_REWARD;
$('start').onclick = () => {
  setPhase('running', 'Running…');
  send({ type: 'run', steps: Math.max(1, Math.floor(Number($<HTMLInputElement>('steps').value) || 1)) });
};
$('pause').onclick = () => send({ type: 'pause' });
$('reset').onclick = reset;
$('download').onclick = () => void downloadCheckpoint();
$('applyReward').onclick = () => void applyReward($<HTMLTextAreaElement>('rewardCode').value);
$('builtinReward').onclick = () => void applyReward(null);

(window as unknown as { playground: unknown }).playground = {
  state,
  nextTokenLogProbs: (prompt: string) => ask<number[]>((id) => ({ type: 'logprobs', id, prompt })),
};

reset();
