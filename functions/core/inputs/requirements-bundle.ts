// The pipeline's input: a requirements file plus every file it includes (-r, -c), as the
// client read them from regular files. Uploaded as one JSON object, so Measure reads nothing
// but what the user named: no include can reach the build host's files (/proc/self/environ),
// and errors name the user's own paths and lines.
import { z } from 'zod';
import { InputError } from '../shared/errors.ts';

/** Most files one bundle may hold (a set rarely includes more than a handful). */
export const MAX_BUNDLE_FILES = 64;
/** Most bytes of text one bundle may hold. */
export const MAX_BUNDLE_BYTES = 4 * 1024 * 1024;

export const requirementsBundleSchema = z
  .strictObject({
    format: z.literal('lambda-deps-requirements-bundle/1'),
    /** The file the user named; a key of `files`. */
    root: z.string().min(1).max(4096),
    /** Every file read, by the path the reader used (the client's absolute path, or the object key). */
    files: z.record(z.string().min(1).max(4096), z.string()),
  })
  .superRefine((bundle, context) => {
    const names = Object.keys(bundle.files);
    if (!names.includes(bundle.root)) {
      context.addIssue({ code: 'custom', path: ['root'], message: 'the root file is not in files' });
    }
    if (names.length > MAX_BUNDLE_FILES) {
      context.addIssue({ code: 'custom', path: ['files'], message: `more than ${MAX_BUNDLE_FILES} files` });
    }
    const bytes = Object.values(bundle.files).reduce((sum, text) => sum + Buffer.byteLength(text), 0);
    if (bytes > MAX_BUNDLE_BYTES) {
      context.addIssue({ code: 'custom', path: ['files'], message: `more than ${MAX_BUNDLE_BYTES} bytes` });
    }
  });

export type RequirementsBundle = z.output<typeof requirementsBundleSchema>;

/** A bundle of one file (an upload to the bucket: it has no includes). */
export function singleFileBundle(name: string, text: string): RequirementsBundle {
  return { format: 'lambda-deps-requirements-bundle/1', root: name, files: { [name]: text } };
}

/** Parse a stored bundle; an InputError naming `origin` when it is not one. */
export function parseRequirementsBundle(text: string, origin: string): RequirementsBundle {
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch {
    throw new InputError(`${origin} is not a requirements bundle (not JSON).`, {
      hint: 'Bundles are written by lambda-deps; upload a plain requirements file under requirements/ instead.',
    });
  }
  const parsed = requirementsBundleSchema.safeParse(data);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new InputError(
      `${origin} is not a valid requirements bundle: ${issue?.path.join('.') || '(top level)'}: ${issue?.message ?? 'invalid'}.`,
      {
        hint: 'Bundles are written by lambda-deps; upload a plain requirements file under requirements/ instead.',
      },
    );
  }
  return parsed.data;
}

/** `scheme://userinfo@` in a requirements file's text (an index or find-links URL with credentials). */
const URL_USERINFO = /\b([a-zA-Z][a-zA-Z0-9+.-]*:\/\/)([^\s/?#@'"<>]+)@/g;

/** The name of the n-th variable that carries a credential taken out of a bundle. */
function credentialVariable(n: number): string {
  return `LAMBDA_DEPS_URL_CREDENTIAL_${n}`;
}

/**
 * The bundle with every password (or lone token) in a URL's userinfo replaced by a `${VAR}`
 * reference, and the variables that give them back. The bundle is stored; the variables are
 * handed to Measure in memory only, so no stored copy of the input holds a secret. Userinfo that
 * already is a `${VAR}` reference is left as it is.
 * @example withoutUrlCredentials(bundle) // files: '-i https://me:${LAMBDA_DEPS_URL_CREDENTIAL_1}@host/simple/'
 */
export function withoutUrlCredentials(bundle: RequirementsBundle): {
  bundle: RequirementsBundle;
  variables: Record<string, string>;
} {
  const variables: Record<string, string> = {};
  const hide = (secret: string): string => {
    const name = credentialVariable(Object.keys(variables).length + 1);
    variables[name] = secret;
    return `\${${name}}`;
  };
  const files = Object.fromEntries(
    Object.entries(bundle.files).map(([name, text]) => [
      name,
      text.replace(URL_USERINFO, (whole, scheme: string, userinfo: string) => {
        if (userinfo.includes('${')) return whole;
        const colon = userinfo.indexOf(':');
        if (colon < 0) return `${scheme}${hide(userinfo)}@`;
        if (colon === userinfo.length - 1) return whole;
        return `${scheme}${userinfo.slice(0, colon + 1)}${hide(userinfo.slice(colon + 1))}@`;
      }),
    ]),
  );
  return { bundle: { ...bundle, files }, variables };
}
