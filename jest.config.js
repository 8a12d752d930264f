/** Jest: TypeScript through ts-jest in transpile-only mode (types are checked by `npm run lint:types`). */
module.exports = {
  testEnvironment: 'node',
  roots: ['<rootDir>/test'],
  testMatch: ['**/*.test.ts'],
  transform: {
    '^.+\\.ts$': ['ts-jest', {diagnostics: false}],
  },
  setupFilesAfterEnv: ['<rootDir>/test/setup/cpu_backend.ts'],
  testTimeout: 120000,
};
