// The CLI bundle's view of aws-local-stepfunctions' three heavy imports, loaded on first use
// instead of at import. The runner imports asl-validator (with ajv), the Lambda client and the
// Cognito credential provider at the top of its module; the local pipeline never calls them (it
// passes `noValidate` and serves every Task from a local handler), and loading them is about a
// quarter of a second of each run. Were one ever called, the real package loads and runs then,
// resolved from aws-local-stepfunctions' own folder (its nested asl-validator, not the hoisted one).
// Each name is one esbuild cannot read: bundled, the package would sit in chunks the runner
// imports (so parses, about 1 MB) at every start even though it runs only on a call; left in
// node_modules it costs nothing until then.
import { dirname } from 'node:path';
import type { Plugin } from 'esbuild';

const NAMESPACE = 'lazy-step-functions-import';

/**
 * Loads a package as the runner itself would, from aws-local-stepfunctions' own folder, by a name
 * esbuild cannot read (so it stays out of the bundle).
 */
const FROM_RUNNER = `const { createRequire } = require('node:module');
const fromRunner = (parts) => createRequire(require.resolve(['aws-local', 'stepfunctions'].join('-')))(parts.join('/'));`;

const SHIMS: Record<string, string> = {
  'asl-validator': `${FROM_RUNNER}
export default function aslValidator(definition, options) {
  const validator = fromRunner(['asl-validator']);
  return (validator.default ?? validator)(definition, options);
}`,
  '@aws-sdk/client-lambda': `${FROM_RUNNER}
let sdk;
const load = () => (sdk ??= fromRunner(['@aws-sdk', 'client-lambda']));
export class LambdaClient { constructor(config) { return new (load().LambdaClient)(config); } }
export class InvokeCommand { constructor(input) { return new (load().InvokeCommand)(input); } }`,
  '@aws-sdk/credential-providers': `${FROM_RUNNER}
export function fromCognitoIdentityPool(options) {
  return fromRunner(['@aws-sdk', 'credential-providers']).fromCognitoIdentityPool(options);
}`,
};

const IMPORTED = new RegExp(
  `^(${Object.keys(SHIMS)
    .map((name) => name.replace(/[/.]/g, '\\$&'))
    .join('|')})$`,
);

export const lazyStepFunctionsImports: Plugin = {
  name: 'lazy-step-functions-imports',
  setup(builder) {
    builder.onResolve({ filter: IMPORTED }, (args) => {
      // Only the runner's own top-level imports; the shims' require() resolves normally.
      if (args.namespace === NAMESPACE || !/[\\/]aws-local-stepfunctions[\\/]/.test(args.importer))
        return undefined;
      return { path: args.path, namespace: NAMESPACE, pluginData: { resolveDir: dirname(args.importer) } };
    });
    builder.onLoad({ filter: /.*/, namespace: NAMESPACE }, (args) => ({
      contents: SHIMS[args.path] ?? '',
      resolveDir: (args.pluginData as { resolveDir: string }).resolveDir,
      loader: 'js',
    }));
  },
};
