import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { MAX_OBJECT_BYTES, decodeBody } from './body';
import type { HashPool } from './hash-offload';
import { Access, CredentialStore, StoredCredential, authorize, authorizeMethod, checkNotExpired } from './credentials';
import { S3Error, accessDenied, invalidArgument } from './errors';
import { decodePathPart, validateBucketName, validateKey } from './keys';
import { parseAuth, parseRawQuery, rawHeaderMap, splitRawUrl, uriEncode, verifyRequestSignature } from './sigv4';
import { DEFAULT_IDLE_TIMEOUT_MS, RequestBody } from './request-body';
import { ObjectStore, StatResult, StoredEvent } from './store';
import { S3_NS, XML_HEADER, allTags, el, firstTag, xmlUnescape } from './xml';

/**
 * The S3 REST API (path-style) under a base path, for the subset real clients use to move files:
 * buckets, objects (single and multipart PUT, CopyObject and UploadPartCopy, ranged GET, HEAD, DELETE,
 * DeleteObjects) and listings (objects, multipart uploads and their parts).
 * Every request must carry a valid SigV4 signature from a known, unexpired credential whose scope
 * covers what it touches.
 */

export interface S3HandlerOptions {
  store: ObjectStore;
  credentials: CredentialStore;
  /** Path the API is mounted at, e.g. `/api/cloud/storage`. */
  basePath: string;
  onObjectStored?: (e: StoredEvent) => void;
  log?: (line: string) => void;
  now?: () => number;
  /** A request body idle this long is answered `RequestTimeout` (default 20 s, as S3). */
  idleTimeoutMs?: number;
  /** Largest object body taken (default 5 GiB, S3's single-PUT limit); lower only in tests. */
  maxObjectBytes?: number;
  /** Bucket names this mount cannot serve (at the root, `api` is the server's own routes). */
  reservedBuckets?: string[];
  /** Hashes large bodies off the main thread (the server owns and closes it); without one, bodies are hashed inline. */
  hashPool?: HashPool;
}

interface Ctx {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  bucket?: string;
  key?: string;
  query: Map<string, string>;
  headers: Map<string, string>;
  cred: StoredCredential;
  body: (opts?: { checksums?: boolean }) => ReturnType<typeof decodeBody>;
}

const SUBRESOURCES_NOT_IMPLEMENTED = ['acl', 'policy', 'cors', 'lifecycle', 'tagging', 'website', 'logging', 'notification', 'replication', 'encryption', 'object-lock', 'retention', 'legal-hold', 'torrent', 'select', 'restore', 'analytics', 'metrics', 'inventory', 'accelerate', 'requestPayment', 'ownershipControls', 'publicAccessBlock', 'intelligent-tiering', 'attributes'];

export function createS3Handler(opts: S3HandlerOptions): (req: IncomingMessage, res: ServerResponse) => Promise<void> {
  const { store, credentials, basePath } = opts;
  const now = opts.now ?? Date.now;
  const idleMs = opts.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS;

  return async (req, res) => {
    const requestId = randomBytes(8).toString('hex').toUpperCase();
    res.setHeader('x-amz-request-id', requestId);
    res.setHeader('Server', 'CloudTraining');
    const { rawPath, rawQuery } = splitRawUrl(req);
    try {
      const rest = rawPath.slice(basePath.length);
      const slash = rest.indexOf('/', 1);
      const rawBucket = rest.length <= 1 ? '' : slash < 0 ? rest.slice(1) : rest.slice(1, slash);
      const rawKey = slash < 0 ? '' : rest.slice(slash + 1);
      const bucket = rawBucket ? decodePathPart(rawBucket) : undefined;
      const key = rawKey ? decodePathPart(rawKey) : undefined;
      if (bucket !== undefined) validateBucketName(bucket);
      if (bucket !== undefined && opts.reservedBuckets?.includes(bucket)) {
        throw new S3Error('InvalidBucketName', `The bucket name ${bucket} is reserved by this server's own routes.`, 400, { BucketName: bucket });
      }

      const queryList = parseRawQuery(rawQuery);
      const query = new Map(queryList);
      const headers = rawHeaderMap(req.rawHeaders);
      const method = (req.method ?? 'GET').toUpperCase();

      const auth = parseAuth(headers, queryList);
      if (!auth) throw accessDenied('Anonymous access is not allowed; sign requests with AWS Signature Version 4.');
      const cred = credentials.lookup(auth.accessKeyId);
      if (!cred) throw new S3Error('InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.', 403, { AWSAccessKeyId: auth.accessKeyId });
      const signing = verifyRequestSignature({ auth, secret: cred.secretAccessKey, method, rawPath, query: queryList, headers, nowMs: now() });
      checkNotExpired(credentials, cred);
      authorizeMethod(cred, method);

      const ctx: Ctx = { req, res, method, bucket, key, query, headers, cred, body: (o) => decodeBody(headers, auth, signing, { maxObjectBytes: opts.maxObjectBytes, hashPool: opts.hashPool, ...o }) };
      await route(ctx);
    } catch (e) {
      sendError(res, req, e, rawPath, requestId, opts.log);
    }
  };

  function access(ctx: Ctx, a: Access): void {
    authorize(ctx.cred, a);
  }

  /** Job credentials may write into their own bucket before anything created it. */
  async function ensureBucketFor(ctx: Ctx, bucket: string): Promise<void> {
    if (!(await store.bucketExists(bucket)) && ctx.cred.bucket === bucket) await store.createBucket(bucket);
  }

  /** The request body and its decoder; reached only once the request is authorised, so that is when `100 Continue` goes out. */
  function bodyOf(ctx: Ctx, opts?: { checksums?: boolean }): ReturnType<typeof decodeBody> & { source: RequestBody } {
    const body = ctx.body(opts);
    if (ctx.headers.get('expect')?.toLowerCase() === '100-continue') ctx.res.writeContinue();
    return { ...body, source: new RequestBody(ctx.req, idleMs, body.tap, body) };
  }

  /** Reads and drops a body we do not use (a copy's), with the same idle timeout. */
  async function drain(req: IncomingMessage): Promise<void> {
    // With `Expect: 100-continue` and no 100 sent, the client sends no body.
    if (req.headers.expect?.toLowerCase() === '100-continue') return;
    for await (const _ of new RequestBody(req, idleMs)) { /* discard */ }
  }

  async function route(ctx: Ctx): Promise<void> {
    const { method, bucket, key, query } = ctx;
    if (bucket === undefined) {
      if (method !== 'GET') throw new S3Error('MethodNotAllowed', 'The specified method is not allowed against this resource.', 405);
      access(ctx, { op: 'listBuckets' });
      return listBuckets(ctx);
    }
    if (key !== undefined && method === 'GET' && query.has('tagging') && !query.has('uploadId')) {
      // Tags are not stored, so every object's set is empty; awscli reads it to carry tags over on a multipart copy.
      access(ctx, { op: 'object', bucket, key });
      await store.stat(bucket, key);
      return sendXml(ctx.res, 200, `<Tagging xmlns="${S3_NS}"><TagSet></TagSet></Tagging>`);
    }
    for (const sub of SUBRESOURCES_NOT_IMPLEMENTED) {
      if (query.has(sub)) throw new S3Error('NotImplemented', `The ${sub} subresource is not implemented by this endpoint.`, 501);
    }
    if (key === undefined) return routeBucket(ctx, bucket);
    access(ctx, { op: 'object', bucket, key });

    switch (method) {
      case 'PUT':
        if (ctx.headers.has('x-amz-copy-source')) {
          return query.has('uploadId') ? uploadPartCopy(ctx, bucket, key) : copyObject(ctx, bucket, key);
        }
        if (query.has('uploadId')) return uploadPart(ctx, bucket, key);
        return putObject(ctx, bucket, key);
      case 'POST':
        if (query.has('uploads')) return createMultipart(ctx, bucket, key);
        if (query.has('uploadId')) return completeMultipart(ctx, bucket, key);
        break;
      case 'GET':
      case 'HEAD':
        if (query.has('uploadId')) {
          if (method === 'GET') return listParts(ctx, bucket, key);
          break;
        }
        return getObject(ctx, bucket, key, method === 'HEAD');
      case 'DELETE':
        if (query.has('uploadId')) {
          await store.abortMultipart(query.get('uploadId')!, bucket, key);
          ctx.res.writeHead(204).end();
          return;
        }
        await store.deleteObject(bucket, key);
        ctx.res.writeHead(204).end();
        return;
    }
    throw new S3Error('NotImplemented', 'A header or query you provided implies functionality that is not implemented.', 501);
  }

  async function routeBucket(ctx: Ctx, bucket: string): Promise<void> {
    const { method, query } = ctx;
    switch (method) {
      case 'GET':
        if (query.has('location')) {
          access(ctx, { op: 'bucket', bucket, write: false });
          await store.assertBucket(bucket);
          return sendXml(ctx.res, 200, `<LocationConstraint xmlns="${S3_NS}"></LocationConstraint>`);
        }
        if (query.has('versioning')) {
          access(ctx, { op: 'bucket', bucket, write: false });
          await store.assertBucket(bucket);
          return sendXml(ctx.res, 200, `<VersioningConfiguration xmlns="${S3_NS}"/>`);
        }
        if (query.has('uploads')) return listMultipartUploads(ctx, bucket);
        if (query.has('versions')) break;
        return listObjects(ctx, bucket);
      case 'HEAD':
        access(ctx, { op: 'bucket', bucket, write: false });
        await store.assertBucket(bucket);
        ctx.res.writeHead(200).end();
        return;
      case 'PUT':
        access(ctx, { op: 'bucket', bucket, write: true });
        if (await store.bucketExists(bucket)) {
          throw new S3Error('BucketAlreadyOwnedByYou', 'Your previous request to create the named bucket succeeded and you already own it.', 409, { BucketName: bucket });
        }
        await store.createBucket(bucket);
        ctx.res.writeHead(200, { Location: `/${bucket}` }).end();
        return;
      case 'DELETE':
        access(ctx, { op: 'bucket', bucket, write: true });
        await store.deleteBucket(bucket);
        ctx.res.writeHead(204).end();
        return;
      case 'POST':
        if (query.has('delete')) return deleteObjects(ctx, bucket);
        break;
    }
    throw new S3Error('NotImplemented', 'A header or query you provided implies functionality that is not implemented.', 501);
  }

  async function listBuckets(ctx: Ctx): Promise<void> {
    const buckets = (await store.listBuckets()).filter((b) => ctx.cred.bucket === undefined || b.name === ctx.cred.bucket);
    const items = buckets.map((b) => `<Bucket>${el('Name', b.name)}${el('CreationDate', b.created.toISOString())}</Bucket>`).join('');
    sendXml(ctx.res, 200, `<ListAllMyBucketsResult xmlns="${S3_NS}"><Owner><ID>cloudtraining</ID><DisplayName>cloudtraining</DisplayName></Owner><Buckets>${items}</Buckets></ListAllMyBucketsResult>`);
  }

  async function listObjects(ctx: Ctx, bucket: string): Promise<void> {
    const q = ctx.query;
    const v2 = q.get('list-type') === '2';
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') || undefined;
    const maxKeysRaw = q.get('max-keys');
    const maxKeys = maxKeysRaw === undefined ? 1000 : Number(maxKeysRaw);
    if (!Number.isInteger(maxKeys) || maxKeys < 0) throw invalidArgument('max-keys must be a non-negative integer');
    access(ctx, { op: 'list', bucket, prefix });

    const token = q.get('continuation-token');
    let after: string | undefined;
    if (v2) {
      if (token !== undefined) {
        after = Buffer.from(token, 'base64url').toString('utf8');
        if (!after) throw invalidArgument('The continuation token provided is incorrect');
      } else after = q.get('start-after') || undefined;
    } else after = q.get('marker') || undefined;

    const result = await store.list(bucket, { prefix, delimiter, after, maxKeys: Math.min(maxKeys, 1000), visiblePrefix: ctx.cred.prefix });
    const urlEnc = q.get('encoding-type') === 'url';
    const enc = (s: string): string => (urlEnc ? uriEncode(s).replace(/%2F/g, '/') : s);
    const contents = result.contents.map((o) => `<Contents>${el('Key', enc(o.key))}${el('LastModified', o.mtime.toISOString())}${el('ETag', o.etag)}`
      + `${el('Size', o.size)}<StorageClass>STANDARD</StorageClass></Contents>`).join('');
    const prefixes = result.commonPrefixes.map((p) => `<CommonPrefixes>${el('Prefix', enc(p))}</CommonPrefixes>`).join('');
    const next = result.isTruncated && result.lastReturned !== undefined ? result.lastReturned : undefined;
    const common = `${el('Name', bucket)}${el('Prefix', enc(prefix))}${delimiter ? el('Delimiter', enc(delimiter)) : ''}${el('MaxKeys', maxKeys)}`
      + `${urlEnc ? el('EncodingType', 'url') : ''}${el('IsTruncated', result.isTruncated)}`;
    const body = v2
      ? `${common}${el('KeyCount', result.contents.length + result.commonPrefixes.length)}${el('ContinuationToken', token)}`
        + `${el('StartAfter', q.has('start-after') ? enc(q.get('start-after')!) : undefined)}`
        + `${el('NextContinuationToken', next === undefined ? undefined : Buffer.from(next).toString('base64url'))}`
      : `${common}${el('Marker', enc(q.get('marker') ?? ''))}${el('NextMarker', next === undefined ? undefined : enc(next))}`;
    sendXml(ctx.res, 200, `<ListBucketResult xmlns="${S3_NS}">${body}${contents}${prefixes}</ListBucketResult>`);
  }

  function objectMetaFromHeaders(headers: Map<string, string>): { contentType?: string; metadata: Record<string, string> } {
    const metadata: Record<string, string> = {};
    for (const [k, v] of headers) if (k.startsWith('x-amz-meta-')) metadata[k.slice(11)] = v;
    return { contentType: headers.get('content-type'), metadata };
  }

  async function putObject(ctx: Ctx, bucket: string, key: string): Promise<void> {
    await ensureBucketFor(ctx, bucket);
    await store.assertBucket(bucket);
    const body = bodyOf(ctx);
    const stored = await store.putObject(bucket, key, body, objectMetaFromHeaders(ctx.headers));
    opts.log?.(`stored ${bucket}/${key} (${stored.size} bytes)`);
    opts.onObjectStored?.(stored);
    ctx.res.writeHead(200, { ETag: stored.etag }).end();
  }

  /**
   * The object named by `x-amz-copy-source` (`[/]bucket/key[?versionId=null]`, URL-encoded), checked
   * like any request's object: a traversal-safe key inside the credential's scope, existing, and
   * matching the `x-amz-copy-source-if-*` preconditions.
   */
  async function copySourceOf(ctx: Ctx): Promise<StatResult & { bucket: string }> {
    const raw = ctx.headers.get('x-amz-copy-source')!.trim();
    const q = raw.indexOf('?');
    const pathPart = (q < 0 ? raw : raw.slice(0, q)).replace(/^\/+/, '');
    if (q >= 0) {
      const params = new URLSearchParams(raw.slice(q + 1));
      const version = params.get('versionId');
      // Objects here have no versions; "null" is the one version an unversioned object has.
      if (version !== null && version !== 'null') {
        throw new S3Error('NotImplemented', 'This endpoint keeps no object versions; x-amz-copy-source with a versionId is not supported.', 501);
      }
    }
    const slash = pathPart.indexOf('/');
    if (slash <= 0 || slash === pathPart.length - 1) {
      throw invalidArgument('Copy Source must mention the source bucket and key: sourcebucket/sourcekey');
    }
    const srcBucket = decodePathPart(pathPart.slice(0, slash));
    const srcKey = decodePathPart(pathPart.slice(slash + 1));
    validateBucketName(srcBucket);
    validateKey(srcKey);
    access(ctx, { op: 'object', bucket: srcBucket, key: srcKey });
    const st = await store.stat(srcBucket, srcKey);
    checkCopyPreconditions(ctx.headers, st);
    return { ...st, bucket: srcBucket };
  }

  async function copyObject(ctx: Ctx, bucket: string, key: string): Promise<void> {
    const src = await copySourceOf(ctx);
    const directive = (ctx.headers.get('x-amz-metadata-directive') ?? 'COPY').toUpperCase();
    if (directive !== 'COPY' && directive !== 'REPLACE') throw invalidArgument('Unknown metadata directive.');
    if (src.size > MAX_OBJECT_BYTES) {
      throw new S3Error('InvalidRequest', `The specified copy source is larger than the maximum allowable size for a copy source: ${MAX_OBJECT_BYTES}`, 400);
    }
    if (src.bucket === bucket && src.key === key && directive === 'COPY') {
      throw new S3Error('InvalidRequest', "This copy request is illegal because it is trying to copy an object to itself without changing the object's metadata, storage class, website redirect location or encryption attributes.", 400);
    }
    await drain(ctx.req);
    await ensureBucketFor(ctx, bucket);
    await store.assertBucket(bucket);
    const meta = directive === 'COPY' ? { contentType: src.meta.contentType, metadata: src.meta.metadata } : objectMetaFromHeaders(ctx.headers);
    const stored = await store.putObject(bucket, key, store.copySource(src.file, 0, src.size - 1), meta);
    const mtime = (await store.stat(bucket, key)).mtime;
    opts.log?.(`copied ${src.bucket}/${src.key} to ${bucket}/${key} (${stored.size} bytes)`);
    opts.onObjectStored?.(stored);
    sendXml(ctx.res, 200, `<CopyObjectResult xmlns="${S3_NS}">${el('LastModified', mtime.toISOString())}${el('ETag', stored.etag)}</CopyObjectResult>`);
  }

  async function uploadPartCopy(ctx: Ctx, bucket: string, key: string): Promise<void> {
    const partNumber = Number(ctx.query.get('partNumber'));
    const uploadId = ctx.query.get('uploadId')!;
    await store.getUpload(uploadId, bucket, key);
    const src = await copySourceOf(ctx);
    let start = 0;
    let end = src.size - 1;
    const range = ctx.headers.get('x-amz-copy-source-range');
    if (range !== undefined) {
      const m = /^bytes=(\d+)-(\d+)$/.exec(range.trim());
      if (!m || Number(m[2]) < Number(m[1]) || Number(m[2]) >= src.size) {
        throw invalidArgument(`The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy, within the source object of size ${src.size}`);
      }
      start = Number(m[1]);
      end = Number(m[2]);
    }
    await drain(ctx.req);
    const etag = await store.uploadPart(uploadId, bucket, key, partNumber, end - start + 1, store.copySource(src.file, start, end));
    sendXml(ctx.res, 200, `<CopyPartResult xmlns="${S3_NS}">${el('LastModified', new Date(now()).toISOString())}${el('ETag', etag)}</CopyPartResult>`);
  }

  async function listParts(ctx: Ctx, bucket: string, key: string): Promise<void> {
    const q = ctx.query;
    const maxParts = nonNegativeInt(q.get('max-parts'), 1000, 'max-parts');
    const marker = nonNegativeInt(q.get('part-number-marker'), 0, 'part-number-marker');
    const uploadId = q.get('uploadId')!;
    const { parts, isTruncated } = await store.listParts(uploadId, bucket, key, { marker, maxParts: Math.min(maxParts, 1000) });
    const urlEnc = q.get('encoding-type') === 'url';
    const owner = '<ID>cloudtraining</ID><DisplayName>cloudtraining</DisplayName>';
    const items = parts.map((p) => `<Part>${el('PartNumber', p.partNumber)}${el('LastModified', p.mtime.toISOString())}${el('ETag', p.etag)}${el('Size', p.size)}</Part>`).join('');
    const next = parts.length ? parts[parts.length - 1]!.partNumber : marker;
    sendXml(ctx.res, 200, `<ListPartsResult xmlns="${S3_NS}">${el('Bucket', bucket)}${el('Key', urlEnc ? encodeKey(key) : key)}${el('UploadId', uploadId)}`
      + `<Initiator>${owner}</Initiator><Owner>${owner}</Owner><StorageClass>STANDARD</StorageClass>`
      + `${el('PartNumberMarker', marker)}${el('NextPartNumberMarker', next)}${el('MaxParts', maxParts)}${el('IsTruncated', isTruncated)}`
      + `${urlEnc ? el('EncodingType', 'url') : ''}${items}</ListPartsResult>`);
  }

  async function listMultipartUploads(ctx: Ctx, bucket: string): Promise<void> {
    const q = ctx.query;
    const prefix = q.get('prefix') ?? '';
    const delimiter = q.get('delimiter') || undefined;
    const maxUploads = nonNegativeInt(q.get('max-uploads'), 1000, 'max-uploads');
    const keyMarker = q.get('key-marker') || undefined;
    const uploadIdMarker = keyMarker === undefined ? undefined : q.get('upload-id-marker') || undefined;
    access(ctx, { op: 'list', bucket, prefix });
    const r = await store.listMultipartUploads(bucket, { prefix, delimiter, keyMarker, uploadIdMarker, maxUploads: Math.min(maxUploads, 1000), visiblePrefix: ctx.cred.prefix });
    const urlEnc = q.get('encoding-type') === 'url';
    const enc = (s: string): string => (urlEnc ? encodeKey(s) : s);
    const owner = '<ID>cloudtraining</ID><DisplayName>cloudtraining</DisplayName>';
    const items = r.uploads.map((u) => `<Upload>${el('Key', enc(u.key))}${el('UploadId', u.uploadId)}<Initiator>${owner}</Initiator><Owner>${owner}</Owner>`
      + `<StorageClass>STANDARD</StorageClass>${el('Initiated', u.initiated)}</Upload>`).join('');
    const prefixes = r.commonPrefixes.map((p) => `<CommonPrefixes>${el('Prefix', enc(p))}</CommonPrefixes>`).join('');
    sendXml(ctx.res, 200, `<ListMultipartUploadsResult xmlns="${S3_NS}">${el('Bucket', bucket)}${el('KeyMarker', enc(keyMarker ?? ''))}`
      + `${el('UploadIdMarker', uploadIdMarker ?? '')}${el('NextKeyMarker', r.next === undefined ? undefined : enc(r.next.key))}`
      + `${el('NextUploadIdMarker', r.next?.uploadId)}${el('Prefix', enc(prefix))}${delimiter ? el('Delimiter', enc(delimiter)) : ''}`
      + `${el('MaxUploads', maxUploads)}${urlEnc ? el('EncodingType', 'url') : ''}${el('IsTruncated', r.isTruncated)}${items}${prefixes}</ListMultipartUploadsResult>`);
  }

  async function createMultipart(ctx: Ctx, bucket: string, key: string): Promise<void> {
    await ensureBucketFor(ctx, bucket);
    const uploadId = await store.createMultipart(bucket, key, objectMetaFromHeaders(ctx.headers));
    await drain(ctx.req);
    sendXml(ctx.res, 200, `<InitiateMultipartUploadResult xmlns="${S3_NS}">${el('Bucket', bucket)}${el('Key', key)}${el('UploadId', uploadId)}</InitiateMultipartUploadResult>`);
  }

  async function uploadPart(ctx: Ctx, bucket: string, key: string): Promise<void> {
    const partNumber = Number(ctx.query.get('partNumber'));
    // The decoder caps the part at its declared length, so it can take its slot of the shared data file.
    const body = bodyOf(ctx);
    const etag = await store.uploadPart(ctx.query.get('uploadId')!, bucket, key, partNumber, body.declaredLength, body);
    ctx.res.writeHead(200, { ETag: etag }).end();
  }

  async function completeMultipart(ctx: Ctx, bucket: string, key: string): Promise<void> {
    // Checksum headers here describe the assembled object, not this XML; they are not stored, so not taken.
    const xml = await readVerifiedSmallBody(ctx, { checksums: false });
    const parts = allTags(xml, 'Part').map((p) => ({
      partNumber: Number(firstTag(p, 'PartNumber')),
      etag: xmlUnescape(firstTag(p, 'ETag') ?? ''),
    }));
    if (parts.some((p) => !Number.isInteger(p.partNumber))) throw new S3Error('MalformedXML', 'The XML you provided was not well-formed.', 400);
    const stored = await store.completeMultipart(ctx.query.get('uploadId')!, bucket, key, parts);
    opts.log?.(`stored ${bucket}/${key} (${stored.size} bytes, ${parts.length} parts)`);
    opts.onObjectStored?.(stored);
    sendXml(ctx.res, 200, `<CompleteMultipartUploadResult xmlns="${S3_NS}">${el('Location', `/${bucket}/${key}`)}${el('Bucket', bucket)}`
      + `${el('Key', key)}${el('ETag', stored.etag)}</CompleteMultipartUploadResult>`);
  }

  async function deleteObjects(ctx: Ctx, bucket: string): Promise<void> {
    const xml = await readVerifiedSmallBody(ctx);
    const keys = allTags(xml, 'Object').map((o) => xmlUnescape(firstTag(o, 'Key') ?? ''));
    if (keys.length > 1000) throw new S3Error('MalformedXML', 'At most 1000 keys per request', 400);
    const quiet = firstTag(xml, 'Quiet') === 'true';
    let out = '';
    for (const k of keys) {
      try {
        authorize(ctx.cred, { op: 'object', bucket, key: k });
        await store.deleteObject(bucket, k);
        if (!quiet) out += `<Deleted>${el('Key', k)}</Deleted>`;
      } catch (e) {
        const err = e instanceof S3Error ? e : new S3Error('InternalError', 'We encountered an internal error.', 500);
        out += `<Error>${el('Key', k)}${el('Code', err.code)}${el('Message', err.message)}</Error>`;
      }
    }
    sendXml(ctx.res, 200, `<DeleteResult xmlns="${S3_NS}">${out}</DeleteResult>`);
  }

  /** A small XML body, checked against its declared SHA-256 / MD5 / checksum like any other body. */
  async function readVerifiedSmallBody(ctx: Ctx, opts?: { checksums?: boolean }): Promise<string> {
    const body = bodyOf(ctx, opts);
    const chunks: Buffer[] = [];
    let size = 0;
    const sink = new Writable({
      write(c: Buffer, _e, cb) {
        size += c.length;
        if (size > 2 * 1024 * 1024) return cb(new S3Error('MaxMessageLengthExceeded', 'Your request was too big.', 400));
        chunks.push(c);
        cb();
      },
    });
    try {
      await pipeline([body.source, ...body.stages, sink]);
      await body.verify();
    } finally {
      body.discard();
    }
    const buf = Buffer.concat(chunks);
    return buf.toString('utf8');
  }

  async function getObject(ctx: Ctx, bucket: string, key: string, headOnly: boolean): Promise<void> {
    const st = await store.stat(bucket, key);
    const headers: Record<string, string | number> = {
      'Content-Type': st.meta.contentType ?? 'application/octet-stream',
      'Last-Modified': st.mtime.toUTCString(),
      ETag: st.etag,
      'Accept-Ranges': 'bytes',
    };
    for (const [k, v] of Object.entries(st.meta.metadata)) headers[`x-amz-meta-${k}`] = v;
    const inm = ctx.headers.get('if-none-match');
    if (inm !== undefined && (inm === '*' || inm.split(',').map((s) => s.trim()).includes(st.etag))) {
      ctx.res.writeHead(304, headers).end();
      return;
    }
    const im = ctx.headers.get('if-match');
    if (im !== undefined && im !== '*' && !im.split(',').map((s) => s.trim()).includes(st.etag)) {
      throw new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: 'If-Match' });
    }
    let start = 0;
    let end = st.size - 1;
    let status = 200;
    const range = ctx.headers.get('range');
    if (range !== undefined) {
      const r = parseRange(range, st.size);
      if (r === 'invalid') {
        throw new S3Error('InvalidRange', 'The requested range is not satisfiable', 416, { RangeRequested: range, ActualObjectSize: String(st.size) });
      }
      if (r) {
        [start, end] = r;
        status = 206;
        headers['Content-Range'] = `bytes ${start}-${end}/${st.size}`;
      }
    }
    headers['Content-Length'] = Math.max(0, end - start + 1);
    ctx.res.writeHead(status, headers);
    if (headOnly || st.size === 0) {
      ctx.res.end();
      return;
    }
    const stream = store.read(st.file, start, end);
    await new Promise<void>((resolve) => {
      stream.on('error', () => {
        ctx.res.destroy();
        resolve();
      });
      ctx.res.on('close', () => {
        stream.destroy();
        resolve();
      });
      stream.pipe(ctx.res);
    });
  }
}

const encodeKey = (s: string): string => uriEncode(s).replace(/%2F/g, '/');

function nonNegativeInt(raw: string | undefined, dflt: number, name: string): number {
  if (raw === undefined) return dflt;
  const n = Number(raw);
  if (raw === '' || !Number.isSafeInteger(n) || n < 0) throw invalidArgument(`${name} must be a non-negative integer`);
  return n;
}

const etagListHas = (list: string, etag: string): boolean => list === '*' || list.split(',').map((s) => s.trim()).includes(etag);

/** `x-amz-copy-source-if-(none-)match` and `-if-(un)modified-since`, combined the way S3 documents. */
function checkCopyPreconditions(headers: Map<string, string>, st: { etag: string; mtime: Date }): void {
  const fail = (condition: string): S3Error => new S3Error('PreconditionFailed', 'At least one of the pre-conditions you specified did not hold', 412, { Condition: condition });
  const im = headers.get('x-amz-copy-source-if-match');
  const inm = headers.get('x-amz-copy-source-if-none-match');
  const ims = dateOf(headers.get('x-amz-copy-source-if-modified-since'));
  const ius = dateOf(headers.get('x-amz-copy-source-if-unmodified-since'));
  const mtime = Math.floor(st.mtime.getTime() / 1000) * 1000;
  if (im !== undefined && !etagListHas(im, st.etag)) throw fail('x-amz-copy-source-If-Match');
  // A matching If-Match wins over a failing If-Unmodified-Since; likewise If-None-Match over If-Modified-Since.
  if (im === undefined && ius !== undefined && mtime > ius) throw fail('x-amz-copy-source-If-Unmodified-Since');
  if (inm !== undefined && etagListHas(inm, st.etag)) throw fail('x-amz-copy-source-If-None-Match');
  if (inm === undefined && ims !== undefined && mtime <= ims) throw fail('x-amz-copy-source-If-Modified-Since');
}

function dateOf(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const t = Date.parse(v);
  return Number.isNaN(t) ? undefined : t;
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n` → inclusive [start, end]; null = ignore (multi-range); 'invalid' → 416. */
export function parseRange(header: string, size: number): [number, number] | null | 'invalid' {
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a, b] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    const n = Number(b);
    if (n === 0 || size === 0) return 'invalid';
    return [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  if (start >= size) return 'invalid';
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (end < start) return null;
  return [start, end];
}


function sendXml(res: ServerResponse, status: number, xml: string): void {
  const body = Buffer.from(XML_HEADER + xml, 'utf8');
  res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': body.length }).end(body);
}

function sendError(res: ServerResponse, req: IncomingMessage, e: unknown, resource: string, requestId: string, log?: (l: string) => void): void {
  let err: S3Error;
  if (e instanceof S3Error) err = e;
  else {
    const code = (e as NodeJS.ErrnoException)?.code;
    if (code === 'ERR_STREAM_PREMATURE_CLOSE' || code === 'ECONNRESET' || code === 'ABORT_ERR') {
      log?.(`upload cut off: ${req.method} ${resource}`);
      res.destroy();
      return;
    }
    log?.(`internal error on ${req.method} ${resource}: ${(e as Error)?.stack ?? String(e)}`);
    err = new S3Error('InternalError', 'We encountered an internal error. Please try again.', 500);
  }
  if (res.headersSent || res.destroyed) {
    res.destroy();
    return;
  }
  // A refused upload whose body we did not read: close rather than read gigabytes to reuse the socket.
  if (!req.complete) res.setHeader('Connection', 'close');
  if (req.method === 'HEAD') {
    res.writeHead(err.status, { 'x-amz-error-code': err.code }).end();
    return;
  }
  const body = Buffer.from(err.toXml(resource, requestId), 'utf8');
  res.writeHead(err.status, { 'Content-Type': 'application/xml', 'Content-Length': body.length }).end(body);
}
