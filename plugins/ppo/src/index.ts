// @grpo/plugin-ppo: the PPO baseline — a transformer critic trained as an update participant,
// GAE advantages with optional KL-in-reward (fixed or adaptive β), and the clipped objectives.
import { ppo } from './plugin.js';

export { ppo, ppoOptionsSchema, PLUGIN_NAME, PLUGIN_VERSION, type PpoOptions } from './plugin.js';
export { CriticParticipant, type CriticOptions } from './critic.js';
export { gae, gaeSequence, type GaeOptions } from './gae.js';
export { KlController, type AdaptiveKlOptions } from './kl-controller.js';
export { clippedValueLoss, ppoObjective, type ValueLossInput } from './objective.js';
export { TransformerValueModel, KL_STATE_FILE, type ValueModel } from './value-model.js';

export default ppo;
