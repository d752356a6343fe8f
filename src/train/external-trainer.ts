// Adapter for an external LoRA trainer (kohya sd-scripts, a diffusers script, anything): Atelier writes a
// dataset folder (one PNG per image, EXIF orientation applied, with a same-named .txt caption, the layout
// kohya's fine-tuning datasets use) and a config JSON, runs the configured command, streams its progress
// lines, and imports the LoRA file it writes.
//
// Protocol with the command:
//   - `{config}` in the arguments is replaced by the config file's path (also in ATELIER_TRAIN_CONFIG);
//   - stdout lines `progress <step>/<total> loss=<x>` are progress; other lines are kept for error messages;
//   - exit status 0 and a safetensors file at config.output_path mean success.
// Cancellation sends SIGTERM (SIGKILL after a grace period).

import { spawn } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import sharp from 'sharp';
import type {
  RunOptions,
  Trainer,
  TrainerCapabilities,
  TrainingRequest,
  TrainingResult,
} from '../domain/ports.ts';
import { throwIfAborted } from '../domain/ports.ts';
import { SafetensorsFile } from '../engine/checkpoint/safetensors.ts';
import { caption, checkImageCount, TrainingInputError } from './dataset.ts';
import type { TrainingProgress } from './lora-trainer.ts';

export interface ExternalTrainerOptions {
  command: string;
  /** arguments; `{config}` is replaced by the config path */
  args?: string[];
  workDir: string;
  env?: Record<string, string>;
  /** passed through in the config (the command decides what they mean) */
  baseModel?: string;
  settings?: Record<string, unknown>;
  capabilities?: Partial<TrainerCapabilities>;
  /** ms between SIGTERM and SIGKILL on cancel (default 5000) */
  killGraceMs?: number;
}

export interface ExternalTrainingConfig {
  tune_id: number;
  dataset_dir: string;
  output_path: string;
  steps: number;
  token: string;
  name: string;
  caption: string;
  face_crop: boolean;
  image_count: number;
  base_model: string | null;
  settings: Record<string, unknown>;
}

const PROGRESS = /^progress\s+(\d+)\s*\/\s*(\d+)(?:\s+loss=(\S+))?/;

export class ExternalTrainerError extends Error {
  override name = 'ExternalTrainerError';
}

/** Parses one line of the progress protocol; undefined for any other line. */
export function parseProgressLine(line: string): { step: number; total: number; loss: number } | undefined {
  const m = PROGRESS.exec(line.trim());
  if (!m) return undefined;
  return { step: Number(m[1]), total: Number(m[2]), loss: m[3] === undefined ? Number.NaN : Number(m[3]) };
}

export class ExternalTrainer implements Trainer {
  readonly name: string;
  constructor(private readonly o: ExternalTrainerOptions) {
    this.name = `external (${o.command})`;
  }

  capabilities(): TrainerCapabilities {
    return { branches: ['sd15'], modelTypes: ['lora'], mock: false, ...this.o.capabilities };
  }

  /** Writes the dataset folder and the config; returns the config path. */
  async prepare(req: TrainingRequest): Promise<{ configPath: string; config: ExternalTrainingConfig }> {
    checkImageCount(req.images);
    const dir = join(this.o.workDir, `tune-${req.tuneId}`);
    const dataset = join(dir, 'dataset');
    rmSync(dataset, { recursive: true, force: true });
    mkdirSync(dataset, { recursive: true });
    const text = caption(req.token, req.name);
    for (const [i, img] of req.images.entries()) {
      const stem = `image_${String(i + 1).padStart(2, '0')}`;
      try {
        await sharp(img.data)
          .rotate()
          .png()
          .toFile(join(dataset, `${stem}.png`));
      } catch (e) {
        throw new TrainingInputError(`training image ${i + 1} cannot be decoded: ${(e as Error).message}`);
      }
      writeFileSync(join(dataset, `${stem}.txt`), `${text}\n`);
    }
    const config: ExternalTrainingConfig = {
      tune_id: req.tuneId,
      dataset_dir: dataset,
      output_path: join(dir, 'output.safetensors'),
      steps: req.steps,
      token: req.token,
      name: req.name,
      caption: text,
      face_crop: req.faceCrop,
      image_count: req.images.length,
      base_model: this.o.baseModel ?? null,
      settings: this.o.settings ?? {},
    };
    rmSync(config.output_path, { force: true });
    const configPath = join(dir, 'config.json');
    writeFileSync(configPath, JSON.stringify(config, null, 2));
    return { configPath, config };
  }

  async train(req: TrainingRequest, opts: RunOptions): Promise<TrainingResult> {
    throwIfAborted(opts.signal);
    const { configPath, config } = await this.prepare(req);
    const args = (this.o.args ?? ['{config}']).map((a) => a.replaceAll('{config}', configPath));
    const tail: string[] = [];
    let lastLoss = Number.NaN;
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(this.o.command, args, {
        env: { ...process.env, ...this.o.env, ATELIER_TRAIN_CONFIG: configPath },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let killTimer: NodeJS.Timeout | undefined;
      const onAbort = () => {
        child.kill('SIGTERM');
        killTimer = setTimeout(() => child.kill('SIGKILL'), this.o.killGraceMs ?? 5000);
      };
      opts.signal.addEventListener('abort', onAbort, { once: true });
      const keep = (line: string) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
      };
      createInterface({ input: child.stdout }).on('line', (line) => {
        const p = parseProgressLine(line);
        if (!p) return keep(line);
        lastLoss = p.loss;
        const perStep = (performance.now() - started) / 1000 / Math.max(1, p.step);
        const event: TrainingProgress = {
          phase: 'training',
          step: p.step,
          total: p.total,
          loss: p.loss,
          etaSeconds: perStep * Math.max(0, p.total - p.step),
        };
        opts.onProgress?.(event);
      });
      createInterface({ input: child.stderr }).on('line', keep);
      child.on('error', (e) =>
        reject(new ExternalTrainerError(`cannot run ${this.o.command}: ${e.message}`)),
      );
      child.on('close', (code, signal) => {
        opts.signal.removeEventListener('abort', onAbort);
        if (killTimer) clearTimeout(killTimer);
        if (opts.signal.aborted) {
          try {
            throwIfAborted(opts.signal);
          } catch (e) {
            reject(e);
          }
          return;
        }
        if (code === 0) resolve();
        else
          reject(
            new ExternalTrainerError(
              `${this.o.command} exited with ${code ?? signal}: ${tail.slice(-5).join(' | ')}`,
            ),
          );
      });
    });
    const weights = importLora(config.output_path);
    return {
      weights,
      notes: [
        `external trainer ${this.o.command}: ${req.images.length} images, ${config.steps} steps` +
          (Number.isFinite(lastLoss) ? `, final loss ${lastLoss}` : ''),
      ],
    };
  }
}

/** Reads the trainer's output and checks it is a LoRA safetensors (kohya, diffusers or PEFT keys). */
export function importLora(path: string): Buffer {
  let file: SafetensorsFile;
  try {
    file = SafetensorsFile.open(path);
  } catch (e) {
    throw new ExternalTrainerError(
      `the external trainer wrote no readable LoRA at ${path}: ${(e as Error).message}`,
    );
  }
  try {
    const keys = [...file.tensors.keys()];
    const lora = keys.some((k) => /lora_down|lora_up|lora\.(down|up)|lora_[AB]\./.test(k));
    if (!lora)
      throw new ExternalTrainerError(`${path} has no LoRA tensors (${keys.slice(0, 3).join(', ')}, …)`);
  } finally {
    file.close();
  }
  return readFileSync(path);
}
