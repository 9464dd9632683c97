/** The version of @grpo/cli (`grpo --version`, and recorded in each run's config.json); kept equal to package.json by a test. */
export const CLI_VERSION = '0.1.0';
