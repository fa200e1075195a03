/**
 * The official Together AI SDK (together-ai, ~85 KB minified) in its own file, dist/vendor/together.js,
 * loaded when the Together API layer is first used (src/providers/together/api.ts).
 */
export { Together, APIError, APIConnectionError, APIConnectionTimeoutError, APIUserAbortError } from 'together-ai';
