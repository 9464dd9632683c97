// @grpo/core/checkpoint in a browser (the `browser` export condition): safetensors encoding and
// tensor conversion, which work on bytes; the directory readers and writers need Node.
export { decodeSafetensors, encodeSafetensors, type StDtype, type StTensor } from './safetensors.js';
export { fromStTensor, toStTensor, toStTensors } from './tensors.js';
