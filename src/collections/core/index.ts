// The collections' foundation: the collection protocol, deterministic key names, the graph optimizer
// (cull, linear fusion), tree reductions. bag/, array/ and dataframe/ build on it.
export {
  Collection,
  SingleValue,
  compute,
  partitionKey,
  collectionName,
  withLayer,
  asLiteral,
  type ComputeOptions,
  type Layers,
  type ResultOf,
} from './collection.js';
export { cull, fuseLinear, inlineAliases, optimizeGraph } from './optimize.js';
export { fusedKernel, isFusedTask, runFused, stepRef, STEP_MARK, type FusedSpec, type StepRef } from './fused.js';
export { splitEveryOption, treeReduction, type TreeReductionSpec } from './reduction.js';
export { tokenize, TOKEN, type Tokenizable } from './tokenize.js';
