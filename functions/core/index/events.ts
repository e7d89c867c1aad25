// What the index client reports while it works: for spinners, and for tests that count requests,
// retries and cache hits. Every URL in an event is already free of credentials.
export type IndexEvent =
  | {
      readonly type: 'request';
      readonly method: 'GET' | 'HEAD';
      readonly url: string;
      readonly range: string | null;
    }
  | {
      readonly type: 'retry';
      readonly url: string;
      readonly attempt: number;
      readonly delayMs: number;
      readonly reason: string;
    }
  | {
      readonly type: 'cache-hit';
      readonly kind: 'size' | 'metadata' | 'download' | 'verification';
      readonly key: string;
    }
  /** A cache record that failed its check was deleted; its value is read again from the source. */
  | {
      readonly type: 'cache-discarded';
      readonly kind: 'size' | 'metadata' | 'verification';
      readonly path: string;
      readonly reason: string;
    }
  | { readonly type: 'range-unsupported'; readonly origin: string }
  /** An index whose host does not exist was left out, as pip does when other indexes remain. */
  | { readonly type: 'index-skipped'; readonly index: string; readonly reason: string };
