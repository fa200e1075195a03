import { parentPort } from 'node:worker_threads';
import { analyseDataset, type AnalysisSource } from './analyzer';

/**
 * The dataset analysis (streamed validation + token counting) in a worker thread, so the editor's
 * extension host only posts a request and receives the result (built to dist/finetune-worker.js).
 * Messages: {type:'run', id, source, exactTokenBytes} → {id, ok, result | error}; {type:'cancel', id}.
 */
type Request = { type: 'run'; id: number; source: AnalysisSource; exactTokenBytes?: number } | { type: 'cancel'; id: number };

const running = new Map<number, AbortController>();
parentPort?.on('message', (m: Request) => {
  if (m.type === 'cancel') { running.get(m.id)?.abort(); return; }
  const ac = new AbortController();
  running.set(m.id, ac);
  analyseDataset(m.source, ac.signal, m.exactTokenBytes).then(
    (result) => parentPort!.postMessage({ id: m.id, ok: true, result }),
    (e: Error) => parentPort!.postMessage({ id: m.id, ok: false, error: { name: e.name, message: e.message } }),
  ).finally(() => running.delete(m.id));
});
