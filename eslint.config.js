// Lint rules: typescript-eslint's recommended set, plus a ban on focused or skipped tests
// committed by accident (a skip must say why through `it.skipIf` with a reason in the name),
// and a core that stays free of AWS: functions/core/** reaches AWS only through the ports.
import js from '@eslint/js';
import tseslint from 'typescript-eslint';

const NO_BARE_SKIP = 'Say why: it.skipIf(condition)(`… (skipped: reason)`), not a bare .skip.';

export default tseslint.config(
  {
    ignores: [
      'node_modules/**',
      'dist/**',
      'cdk.out/**',
      '.work/**',
      'out/**',
      'test/fixtures/**',
      'docs/**',
    ],
  },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { process: 'readonly', console: 'readonly', URL: 'readonly' } },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/consistent-type-imports': 'error',
      'no-restricted-properties': [
        'error',
        { object: 'it', property: 'only', message: 'Do not commit focused tests.' },
        { object: 'describe', property: 'only', message: 'Do not commit focused tests.' },
        { object: 'test', property: 'only', message: 'Do not commit focused tests.' },
        { object: 'it', property: 'skip', message: NO_BARE_SKIP },
        { object: 'describe', property: 'skip', message: NO_BARE_SKIP },
        { object: 'test', property: 'skip', message: NO_BARE_SKIP },
        { object: 'it', property: 'todo', message: 'Write the test, or leave it out.' },
      ],
    },
  },
  {
    files: ['functions/core/**/*.ts'],
    rules: {
      'no-restricted-imports': [
        'error',
        {
          patterns: [
            {
              group: ['@aws-sdk/*', 'aws-cdk-lib', 'aws-cdk-lib/*', '@aws-lambda-powertools/*'],
              message: 'The core stays free of AWS: use a port (functions/adapters/ports.ts) from a handler.',
            },
            {
              group: ['**/adapters/aws/**', '**/adapters/local/**', '**/adapters/twin/**', '**/infra/**'],
              message:
                'The core depends on the ports (adapters/ports.ts) only, never on an adapter or on infra.',
            },
          ],
        },
      ],
    },
  },
);
