import * as z from 'zod';

// Imported before any schema is used: the webview CSP has no 'unsafe-eval', so zod must not probe
// `new Function` for its JIT parser (the probe alone is a CSP violation).
z.config({ jitless: true });
