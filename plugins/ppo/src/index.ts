// @grpo/plugin-ppo: the PPO baseline — a transformer critic, GAE advantages with optional
// KL-in-reward (fixed or adaptive β), and the clipped policy + clipped value objective.
import { ppo } from './plugin.js';

export { ppo, PLUGIN_NAME, PLUGIN_VERSION, type PpoOptions } from './plugin.js';
export { gae, gaeSequence, type GaeOptions } from './gae.js';
export { KlController, type AdaptiveKlOptions } from './kl-controller.js';
export { clippedValueLoss, ppoObjective, type PpoObjectiveOptions, type ValueLossInput } from './objective.js';
export { TransformerValueModel, KL_STATE_FILE } from './value-model.js';

export default ppo;
