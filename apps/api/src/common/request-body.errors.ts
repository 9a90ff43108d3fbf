/**
 * Why a request body could not be read, in body-parser's vocabulary (its `type` field), which
 * the api kept when it moved to its own reader (json-body.parser.ts), plus `encoding.failed`
 * (compressed data that does not decompress, gzip, deflate or br alike): HttpErrorFilter maps
 * each to its 4xx, whichever of the two reported it.
 */
export const BODY_ERROR_TYPES = [
  'encoding.failed',
  'entity.parse.failed',
  'entity.too.large',
  'entity.verify.failed',
  'encoding.unsupported',
  'charset.unsupported',
  'request.aborted',
  'request.size.invalid',
  'stream.encoding.set',
  'stream.not.readable',
  'parameters.too.many',
] as const;
export type BodyErrorType = (typeof BODY_ERROR_TYPES)[number];

export function isBodyErrorType(type: unknown): type is BodyErrorType {
  return BODY_ERROR_TYPES.some((known) => known === type);
}

export class RequestBodyError extends Error {
  constructor(readonly type: BodyErrorType) {
    super(`Request body refused: ${type}`);
    this.name = RequestBodyError.name;
  }
}
