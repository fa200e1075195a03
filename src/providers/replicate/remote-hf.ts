import { promises as fs } from 'node:fs';
import path from 'node:path';
import * as z from 'zod';
import { DataRouteRefusedError, type DataPlan } from '../../core/submit/data-route';
import { formatBytes } from '../../core/format';
import { uploadFolderToHub } from '../../core/destinations/huggingface';
import type { PlanDataContext, ProviderContext } from '../../core/providers/types';
import { readPackageIndex } from './archive';
import { extractFromPackage } from './package-extract';
import { datasetsOf, imageDatasets, isImage, isRemoteEntry, packagePrefix, type DataRequest, type DataloaderEntry } from './data-route';
import { ReplicateError } from './errors';

/**
 * The remote-data route over a HuggingFace dataset repo. Each packaged image dataset becomes one split
 * of a private dataset repo in the Hub's `imagefolder` layout (`<split>/<image>` + `<split>/metadata.jsonl`
 * with `file_name` and `caption`, splits declared in the README's `configs`), and the dataloader entry
 * becomes SimpleTuner's `type: huggingface` with `dataset_name`, `split`, `revision` (the commit, so the
 * trainer reads exactly what was agreed), `caption_strategy`/`metadata_backend: huggingface` and the
 * caption/image columns (documentation/DATALOADER.md "Hugging Face Datasets";
 * helpers/data_backend/builders/huggingface.py; helpers/metadata/backends/huggingface.py reads
 * `caption_column`). The trainer reads the private repo with the job's `hf_token` input, a Cog
 * `Secret` (Replicate stores it write-only and never shows it back). The Hub cannot mint per-job
 * tokens, so consent says to use a fine-grained token limited to the repos involved.
 */
export interface HfRouteDeps {
  getHfToken?(): Promise<string | undefined>;
  endpoint?(): string | undefined;
}

const SplitSchema = z.object({ id: z.string(), split: z.string(), packagePrefix: z.string(), captions: z.record(z.string(), z.union([z.string(), z.array(z.string())])), files: z.number().int(), bytes: z.number() });
export const HfRoutePlanSchema = z.object({ repo: z.string(), endpoint: z.string(), splits: z.array(SplitSchema) });
export type HfRoutePlan = z.infer<typeof HfRoutePlanSchema>;

const splitName = (id: string, i: number) => `d${i}_${id.replace(/[^A-Za-z0-9]+/g, '_')}`.slice(0, 60);

export class HfDataRoute {
  constructor(private readonly deps: HfRouteDeps) {}

  async planHf(req: Extract<DataRequest, { kind: 'hf' }>, pkg: { path: string }, dataloader: unknown, ctx: PlanDataContext): Promise<DataPlan> {
    if (!(await this.deps.getHfToken?.())) {
      throw new DataRouteRefusedError(['The HuggingFace route needs a HuggingFace token (to create the private dataset repo, and for the trainer to read it).'], [
        'set one with "Cloud Training: Set HuggingFace Token" or HF_TOKEN;', 'or use the archive or S3 route.',
      ]);
    }
    const index = await readPackageIndex(pkg.path);
    const reasons: string[] = [];
    const splits: HfRoutePlan['splits'] = [];
    for (const [i, d] of imageDatasets(dataloader).entries()) {
      if (isRemoteEntry(d)) continue;
      const p = packagePrefix(d);
      const id = String(d.id);
      if (!p) { reasons.push(`Dataset "${id}" has no instance_data_dir.`); continue; }
      if (String(d.dataset_type ?? 'image') !== 'image') { reasons.push(`Dataset "${id}" is a ${String(d.dataset_type)} dataset; the HuggingFace route carries image datasets.`); continue; }
      const strategy = String(d.caption_strategy ?? 'filename');
      const captions: Record<string, string | string[]> = {};
      let bytes = 0;
      for (const [name, size] of index.sizes) {
        if (!name.startsWith(`${p}/`) || !isImage(name)) continue;
        const rel = name.slice(p.length + 1);
        const ext = path.posix.extname(rel);
        bytes += size;
        if (strategy === 'filename') captions[rel] = path.posix.basename(rel, ext).replace(/_/g, ' ');
        else if (strategy === 'instanceprompt' && typeof d.instance_prompt === 'string') captions[rel] = d.instance_prompt;
        else if (strategy === 'textfile') {
          const txt = index.texts.get(`${name.slice(0, name.length - ext.length)}.txt`);
          if (txt === undefined) { reasons.push(`${rel} has no caption file.`); continue; }
          const lines = txt.split('\n').filter((l) => l !== '');
          captions[rel] = lines.length === 1 ? lines[0]! : lines;
        } else { reasons.push(`Dataset "${id}" takes its captions from "${strategy}", which the HuggingFace route does not convert.`); break; }
      }
      if (!Object.keys(captions).length) reasons.push(`Dataset "${id}" has no images in the package.`);
      splits.push({ id, split: splitName(id, i), packagePrefix: p, captions, files: Object.keys(captions).length, bytes });
    }
    if (!splits.length && !reasons.length) reasons.push('No local image dataset to put in a dataset repo.');
    if (reasons.length) throw new DataRouteRefusedError(reasons, ['use the S3 route (`--data s3://bucket/prefix`), which carries any local dataset as it is.']);
    const plan: HfRoutePlan = { repo: req.repo, endpoint: (this.deps.endpoint?.() ?? 'https://huggingface.co').replace(/\/+$/, ''), splits };
    const total = splits.reduce((n, s) => n + s.bytes, 0);
    return {
      summary: {
        route: 'remote-hf',
        title: `Remote data (HuggingFace): the trainer reads ${splits.length} dataset${splits.length === 1 ? '' : 's'} from the private dataset repo ${req.repo} (one split each) through SimpleTuner's huggingface backend`,
        detail: [
          ...splits.map((s) => `${s.id}: ${s.files} images, ${formatBytes(s.bytes)} → split "${s.split}" (captions in metadata.jsonl)`),
          'Images the Hub already has (same sha256) are not uploaded again; the trainer reads the exact commit made for this job.',
        ],
        changes: [],
        credentials: 'Your HuggingFace token goes in the job\'s hf_token input (a Secret: Replicate never shows it back). The Hub cannot mint per-job tokens: use a fine-grained token limited to this dataset repo (and the model repo, if results go to the Hub).',
      },
      bytes: total,
      sent: splits.map((x) => ({ id: x.id, files: x.files, bytes: x.bytes })),
      details: { route: 'remote-hf', dataloaderJson: JSON.stringify(rewriteForHf(dataloader, plan, undefined)), remote: plan },
    };
  }

  /** After consent: one commit with every split; the dataloader pinned to it, and the token for hf_token. */
  async prepare(remote: unknown, dataloaderJson: string, packagePath: string, ctx: ProviderContext): Promise<{ dataloaderJson: string; token: string }> {
    const plan = HfRoutePlanSchema.parse(remote);
    const token = await this.deps.getHfToken?.();
    if (!token) throw new ReplicateError('No HuggingFace token for the dataset repo.');
    const dir = await fs.mkdtemp(path.join(ctx.dataHome, 'replicate-hf-'));
    try {
      const yaml = ['---', 'configs:', '- config_name: default', '  data_files:', ...plan.splits.flatMap((s) => [`  - split: ${s.split}`, `    path: "${s.split}/**"`]), '---', '', 'Training data uploaded by Cloud Training for a SimpleTuner job.', ''];
      await fs.writeFile(path.join(dir, 'README.md'), yaml.join('\n'));
      for (const s of plan.splits) {
        const images = new Set(Object.keys(s.captions));
        await extractFromPackage(packagePath, s.packagePrefix, path.join(dir, s.split), (rel) => images.has(rel));
        const lines = Object.entries(s.captions).map(([rel, caption]) => JSON.stringify({ file_name: rel, caption }));
        await fs.writeFile(path.join(dir, s.split, 'metadata.jsonl'), `${lines.join('\n')}\n`);
      }
      ctx.report?.(`Uploading the datasets to ${plan.repo}`);
      const [out] = await uploadFolderToHub({
        folder: dir, repoType: 'dataset', token, signal: ctx.signal, commitMessage: 'Training data for a Cloud Training job',
        dest: { kind: 'huggingface', repoId: plan.repo, private: true, revision: 'main', endpoint: plan.endpoint },
        onProgress: (p) => ctx.report?.(`Uploading datasets: ${formatBytes(p.bytes)} of ${formatBytes(p.totalBytes)}`, p.totalBytes ? p.bytes / p.totalBytes : undefined),
      });
      const commit = /\/commit\/([0-9a-f]{6,64})$/.exec(out?.uri ?? '')?.[1];
      // The template already says type huggingface; pin each of our entries to the commit just made.
      const splits = new Set(plan.splits.map((x) => x.split));
      const template = JSON.parse(dataloaderJson) as unknown;
      const pin = (d: DataloaderEntry): DataloaderEntry => (d.type === 'huggingface' && d.dataset_name === plan.repo && splits.has(String(d.split)) ? { ...d, revision: commit ?? 'main' } : d);
      const list = datasetsOf(template).map(pin);
      return { dataloaderJson: JSON.stringify(Array.isArray(template) ? list : { ...(template as object), datasets: list }), token };
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  }
}

/** The dataloader with the planned datasets as `type: huggingface` entries (pinned to `revision` when given). */
export function rewriteForHf(dataloader: unknown, plan: HfRoutePlan, revision: string | undefined): unknown {
  const bySplit = new Map(plan.splits.map((s) => [s.id, s]));
  const rewrite = (d: DataloaderEntry): DataloaderEntry => {
    const s = bySplit.get(String(d.id));
    if (!s) return d;
    const { instance_data_dir: _dir, type: _type, caption_strategy: _cs, instance_prompt: _ip, ...rest } = d;
    return {
      ...rest, type: 'huggingface', dataset_name: plan.repo, split: s.split, ...(revision ? { revision } : {}),
      caption_strategy: 'huggingface', metadata_backend: 'huggingface', image_column: 'image', caption_column: 'caption',
      huggingface: { caption_column: 'caption', image_column: 'image' },
    };
  };
  const list = datasetsOf(dataloader).map(rewrite);
  return Array.isArray(dataloader) ? list : { ...(dataloader as object), datasets: list };
}

