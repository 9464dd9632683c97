// Checkpoint I/O: safetensors encoding, atomic directory writes, validated readers.
export { decodeSafetensors, encodeSafetensors, type StDtype, type StTensor } from './safetensors.js';
export { readJsonFile, readSafetensorsFile, writeDirAtomic, type WriteDirAtomicOptions } from './directory.js';
export { fromStTensor, toStTensor, toStTensors } from './tensors.js';
