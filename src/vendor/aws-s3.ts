/**
 * The parts of the AWS SDK that results delivery uses, bundled into their own file
 * (dist/vendor/aws-s3.js) so the extension does not parse ~550 KB of SDK when it activates.
 * Loaded on first delivery by src/core/destinations/s3.ts.
 */
export { S3Client, HeadObjectCommand } from '@aws-sdk/client-s3';
export { Upload } from '@aws-sdk/lib-storage';
