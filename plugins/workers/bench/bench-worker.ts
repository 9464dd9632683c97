/**
 * One reward-worker process of `npm run bench:workers`: process `index` serves the queue of every
 * round with more than `index` workers, so 16 processes started once serve rounds of 1…16.
 */
import { startRewardWorker, workersSchema } from '../src/index.js';
import { ioBoundReward } from './io-reward.js';

const [url, indexText, roundsText] = process.argv.slice(2);
const index = Number(indexText);
const rounds = roundsText!.split(',').map(Number);
const running = await Promise.all(
  rounds.filter((n) => index < n).map((n) => startRewardWorker({ url: url!, workers: workersSchema.parse({ queue: `bench-${n}` }), rewards: [ioBoundReward] })),
);
process.stdout.write('ready\n');
process.once('SIGTERM', () => void Promise.all(running.map((w) => w.close())).then(() => process.exit(0)));
