// The service limits the local twin enforces, as AWS documents them: what a folder on a laptop
// would accept and AWS would refuse.
import { LambdaDepsError } from '../../core/shared/errors.ts';
import { LAMBDA_UNZIPPED_LIMIT_BYTES } from '../../core/shared/types.ts';
import type { LayerRegistry } from '../ports.ts';

/** AWS's answer to a request past one of its limits, named as the service names the error. */
export class ServiceLimitError extends LambdaDepsError {
  constructor(code: string, message: string, hint: string) {
    super(`${code}: ${message}`, { exitCode: 1, hint });
    this.name = code;
  }
}

const LAYER_NAME = /^[a-zA-Z0-9_-]{1,140}$/;

export const SERVICE_LIMITS = {
  /** S3: one PutObject carries at most 5 GB. */
  s3SinglePutBytes: 5 * 1024 ** 3,
  /** Step Functions: the input or output of a state is at most 256 KB. */
  stepFunctionsPayloadBytes: 256 * 1024,
  /** SSM: a standard-tier parameter value is at most 4 KB. */
  ssmStandardValueBytes: 4 * 1024,
  /** EventBridge: one PutEvents entry (detail type, detail, source…) is at most 256 KB. */
  eventEntryBytes: 256 * 1024,
  /** Lambda: at most 5 layers on a function. */
  layersPerFunction: 5,
  /** Lambda: function code and all its layers unzipped, at most 250 MB (262,144,000 bytes). */
  unzippedFunctionBytes: LAMBDA_UNZIPPED_LIMIT_BYTES,

  checkSinglePut(key: string, bytes: number): void {
    if (bytes > SERVICE_LIMITS.s3SinglePutBytes) {
      throw new ServiceLimitError(
        'EntityTooLarge',
        `PutObject of ${bytes} bytes to ${key}; one PUT carries at most ${SERVICE_LIMITS.s3SinglePutBytes}.`,
        'Use a multipart upload.',
      );
    }
  },

  checkLayerRequest(request: Parameters<LayerRegistry['publishLayerVersion']>[0]): void {
    if (!LAYER_NAME.test(request.layerName)) {
      throw new ServiceLimitError(
        'InvalidParameterValueException',
        `Layer name "${request.layerName}" is not 1–140 letters, digits, - or _.`,
        'Shorten the layer name prefix or the set name.',
      );
    }
    if (request.description.length > 256) {
      throw new ServiceLimitError(
        'InvalidParameterValueException',
        `Layer description of ${request.description.length} characters.`,
        'Descriptions are at most 256 characters.',
      );
    }
    if (request.licenseInfo.length > 512) {
      throw new ServiceLimitError(
        'InvalidParameterValueException',
        `License info of ${request.licenseInfo.length} characters.`,
        'License info is at most 512 characters.',
      );
    }
  },

  checkFunctionLayers(functionName: string, layers: readonly string[]): void {
    if (layers.length > SERVICE_LIMITS.layersPerFunction) {
      throw new ServiceLimitError(
        'InvalidParameterValueException',
        `${functionName} would have ${layers.length} layers; a function takes at most 5.`,
        'Lower the layer count (--existing-layers) or use the image route.',
      );
    }
  },

  /** `codeBytes` of the function's own code plus each layer's unzipped size. */
  checkUnzippedSize(functionName: string, codeBytes: number, layerBytes: readonly number[]): void {
    const total = layerBytes.reduce((sum, bytes) => sum + bytes, codeBytes);
    if (total > SERVICE_LIMITS.unzippedFunctionBytes) {
      throw new ServiceLimitError(
        'InvalidParameterValueException',
        `${functionName} would unzip to ${total} bytes (code ${codeBytes} + layers ${layerBytes.join(' + ')}); Lambda allows ${SERVICE_LIMITS.unzippedFunctionBytes} with all its layers.`,
        'Keep more room for function code (reserveBytesForFunctionCode) or use the EFS or image route.',
      );
    }
  },

  checkParameter(name: string, value: string): void {
    const bytes = Buffer.byteLength(value);
    if (bytes > SERVICE_LIMITS.ssmStandardValueBytes) {
      throw new ServiceLimitError(
        'ValidationException',
        `${name} would hold ${bytes} bytes; a standard parameter holds at most 4096.`,
        'Store the value as an object and put its key in the parameter.',
      );
    }
  },

  checkEvent(detailType: string, detail: Readonly<Record<string, unknown>>): void {
    const bytes =
      Buffer.byteLength(detailType) + Buffer.byteLength(JSON.stringify(detail)) + 'lambda-deps'.length;
    if (bytes > SERVICE_LIMITS.eventEntryBytes) {
      throw new ServiceLimitError(
        'EntryTooLarge',
        `A ${detailType} event of ${bytes} bytes; EventBridge takes at most 262144 per entry.`,
        'Send the report key, not the report.',
      );
    }
  },
};
