// Checkpoint I/O lives in @grpo/core (the trainer's checkpointer needs it too); re-exported here for the model code.
export {
  decodeSafetensors,
  encodeSafetensors,
  fromStTensor,
  readJsonFile,
  readSafetensorsFile,
  toStTensor,
  toStTensors,
  writeDirAtomic,
  type StDtype,
  type StTensor,
  type WriteDirAtomicOptions,
} from '@grpo/core';
