// @grpo/core/checkpoint: checkpoint file I/O for plugins that save their own state — safetensors
// encoding, atomic directory writes, validated readers, optimizer state files.
export { decodeSafetensors, encodeSafetensors, type StDtype, type StTensor } from './safetensors.js';
export { fsyncPath, readJsonFile, readSafetensorsFile, syncTree, writeDirAtomic, writeFileSynced, type WriteDirAtomicOptions } from './directory.js';
export { fromStTensor, toStTensor, toStTensors } from './tensors.js';
export { readOptimizerState, writeOptimizerState } from '../trainer/checkpointer.js';
