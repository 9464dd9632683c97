/** create-grpo: scaffold a GRPO.ts project from a template (`npm create grpo`, `grpo init`). */
export {
  defaultGrpoSource,
  defaultTemplatesDir,
  listTemplates,
  nameFromDir,
  PUBLISHED_RANGE,
  RENAMED_FILES,
  resolveTarget,
  rewritePackageJson,
  scaffold,
  ScaffoldError,
  validatePackageName,
  workspacePackages,
  type ScaffoldOptions,
  type ScaffoldResult,
  type TemplateInfo,
} from './scaffold.js';
export { createMain, nextSteps } from './main.js';
