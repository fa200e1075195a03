import * as z from 'zod';

/**
 * How a provider's trainer will get the datasets, decided per submission before anything is uploaded
 * and shown in the consent view (F4). Providers that upload one package decide it in `planData`; a
 * submission whose data the trainer could not read is refused with `DataRouteRefusedError` instead.
 */
export const DataRouteSummarySchema = z.object({
  /** `archive`: one archive the trainer unpacks itself; `remote-s3` / `remote-hf`: the trainer reads a bucket / dataset repo. */
  route: z.enum(['archive', 'remote-s3', 'remote-hf']),
  /** One line, e.g. "Archive: Replicate's trainer unpacks 12 images and captions them from their file names". */
  title: z.string(),
  /** Further facts, one per line (where the data goes, what is uploaded). */
  detail: z.array(z.string()).default([]),
  /** What the trainer will do differently from the local dataloader config, e.g. "repeats: 2 will not apply". */
  changes: z.array(z.string()).default([]),
  /** For remote routes: which credentials travel in the job's input and how they are limited. */
  credentials: z.string().optional(),
});
export type DataRouteSummary = z.infer<typeof DataRouteSummarySchema>;

/** A provider's decision: the summary for consent, plus what it needs at submit time (opaque to the pipeline). */
export interface DataPlan {
  summary: DataRouteSummary;
  /** The file that will be uploaded, when it is not the package itself. */
  upload?: { path: string; sha256: string; bytes: number };
  /** Everything that leaves this machine on this route (the upload, or the datasets put in a bucket). */
  bytes?: number;
  /** What leaves, per dataset, when it is not the whole package (the archive route sends only images). */
  sent?: Array<{ id: string; files: number; bytes: number }>;
  /** Provider-private details (validated by the provider when it reads them back). */
  details: unknown;
}

/** The trainer could not read this submission's data on any route available: say why and the ways out. */
export class DataRouteRefusedError extends Error {
  readonly code = 'DATA_ROUTE_REFUSED';
  constructor(readonly reasons: string[], readonly waysOut: string[]) {
    super(`Nothing was uploaded: the trainer could not read these datasets as sent. ${reasons.join(' ')}${waysOut.length ? ` Ways out: ${waysOut.map((w, i) => `(${i + 1}) ${w}`).join(' ')}` : ''}`);
    this.name = 'DataRouteRefusedError';
  }
}
