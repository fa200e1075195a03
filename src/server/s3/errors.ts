import { xmlEscape } from './xml';

/** An error answered as S3 does: `<Error><Code>…</Code><Message>…</Message>…</Error>` with its HTTP status. */
export class S3Error extends Error {
  constructor(readonly code: string, message: string, readonly status: number, readonly extra: Record<string, string> = {}) {
    super(message);
    this.name = 'S3Error';
  }

  toXml(resource: string, requestId: string): string {
    const extra = Object.entries(this.extra).map(([k, v]) => `<${k}>${xmlEscape(v)}</${k}>`).join('');
    return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${xmlEscape(this.code)}</Code><Message>${xmlEscape(this.message)}</Message>`
      + `${extra}<Resource>${xmlEscape(resource)}</Resource><RequestId>${requestId}</RequestId></Error>`;
  }
}

export const noSuchKey = (key: string): S3Error => new S3Error('NoSuchKey', 'The specified key does not exist.', 404, { Key: key });
export const noSuchBucket = (bucket: string): S3Error => new S3Error('NoSuchBucket', 'The specified bucket does not exist', 404, { BucketName: bucket });
export const accessDenied = (why = 'Access Denied'): S3Error => new S3Error('AccessDenied', why, 403);
export const noSuchUpload = (): S3Error => new S3Error('NoSuchUpload', 'The specified multipart upload does not exist.', 404);
export const invalidArgument = (msg: string): S3Error => new S3Error('InvalidArgument', msg, 400);
