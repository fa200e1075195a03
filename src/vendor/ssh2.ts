/**
 * ssh2 (~330 KB minified with tweetnacl, bcrypt-pbkdf and asn1) in its own file, dist/vendor/ssh2.js,
 * loaded when the first SSH or Slurm connection opens (src/providers/ssh/connection.ts).
 */
export { Client, utils } from 'ssh2';
