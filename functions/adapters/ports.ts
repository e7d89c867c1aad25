// One interface per outside system. Each has an AWS implementation (adapters/aws/) and a
// local one (adapters/local/); handlers and the build take them as arguments.

/** S3 in AWS, a folder locally. Keys are `/`-separated, never absolute, never `..`. */
export interface ObjectStore {
  /** `s3://bucket` or `file:///abs/dir`: enough for another process to open the same store. */
  readonly location: string;
  getBytes(key: string): Promise<Buffer>;
  getToFile(key: string, path: string): Promise<void>;
  putBytes(key: string, body: Buffer | string, contentType?: string): Promise<void>;
  putFile(key: string, path: string, contentType?: string): Promise<void>;
  exists(key: string): Promise<boolean>;
  /** Keys under a prefix, sorted. */
  list(prefix: string): Promise<string[]>;
}
