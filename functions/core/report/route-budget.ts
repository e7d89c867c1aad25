// The size limit of each route, stated the same way on the page and in the terminal: layers
// share Lambda's 250 MiB unzipped limit with the function code, an image may be 10 GiB, and
// EFS has no size limit (there, the number of files is what costs: each is a network read).
import type { Strategy } from '../shared/types.ts';
import { LAMBDA_IMAGE_LIMIT_BYTES, LAMBDA_UNZIPPED_LIMIT_BYTES } from '../shared/types.ts';

export interface RouteBudget {
  /** Bytes the route allows, or null when it has no limit (EFS). */
  readonly limitBytes: number | null;
  /** What the limit counts, for a sentence: `unzipped, layers and function code together`. */
  readonly counts: string;
}

export function routeBudget(strategy: Strategy | 'none'): RouteBudget {
  if (strategy === 'image')
    return { limitBytes: LAMBDA_IMAGE_LIMIT_BYTES, counts: 'image size, uncompressed' };
  if (strategy === 'efs') return { limitBytes: null, counts: 'EFS has no size limit' };
  return { limitBytes: LAMBDA_UNZIPPED_LIMIT_BYTES, counts: 'unzipped, layers and function code together' };
}
