// @grpo/core/testing: a test kit for plugin authors — table testers for rewards and advantage
// estimators, a policy that needs no model files, and a test container in one call.
export {
  RewardAssertionError,
  RewardTester,
  type RewardTestCase,
  type RewardTesterOptions,
  type RewardTestReport,
  type RewardTestResult,
} from './reward-tester.js';
export { EstimatorAssertionError, EstimatorTester, scoredGroups, type EstimatorTestCase, type EstimatorTestGroup } from './estimator-tester.js';
export { FakePolicy, FakeTokenizer, type FakePolicyOptions } from './fake-policy.js';
export { createTestContainer, createTestTrainer, testConfig, type TestContainerOptions } from './container.js';
