// Which of Astria's twelve `controlnet` types this installation can honour, and what to install for the rest.
// Used by the generator's capabilities (the API then rejects the others with 422), `atelier models`, the
// dashboard and OpenAPI. Nothing here loads a network: a ControlNet is "installed" when its folder holds a
// checkpoint whose safetensors header is a loadable SD 1.x ControlNet (openControlNet reads only the header).
//
// Layout under the models directory (`<dataDir>/models`):
//   controlnet/<type>/                  the ControlNet: a diffusers folder (config.json + *.safetensors) or one
//                                       .safetensors file in either layout (e.g. control_v11p_sd15_canny.safetensors)
//   controlnet/<type>/annotator.onnx    network preprocessors only (preprocess/annotator.ts has the contract)
//   controlnet/<type>/annotator.json    optional annotator settings
//   ip-adapter/image_encoder/           the CLIP image encoder of the IP-Adapter types (diffusers
//                                       CLIPVisionModelWithProjection folder: config.json + model.safetensors)
//   ip-adapter/<IP_ADAPTER_FILES[type]> one adapter .safetensors per IP-Adapter type and FaceID
//   faces/arcface.onnx                  FaceID's face-recognition network (post/faces/embedding.ts)

import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { CONTROLNETS } from '../domain/vocab.ts';
import { ARCFACE_INSTALL, arcfacePath } from '../post/faces/embedding.ts';
import { SafetensorsFile } from './checkpoint/safetensors.ts';
import { sourceFromFile } from './checkpoint/tensor-source.ts';
import { openControlNet } from './models/controlnet.ts';
import { detectIpAdapterConfig, type IpProjectionKind } from './models/ip-adapter.ts';
import { ANNOTATOR_FILE } from './preprocess/annotator.ts';

export type ConditioningType = (typeof CONTROLNETS)[number];

/**
 * algorithm: a ControlNet plus a TypeScript preprocessor; network: a ControlNet plus an ONNX annotator;
 * ip-adapter: an image-prompt adapter (CLIP image encoder + decoupled cross-attention, pipeline/ip-adapter.ts).
 */
export type ConditioningKind = 'algorithm' | 'network' | 'ip-adapter';

interface TypeSpec {
  kind: ConditioningKind;
  /** what the preprocessor is, for listings */
  preprocessor: string;
  /** the ControlNet checkpoint an operator would install (SD 1.5 names) */
  controlnet?: string;
  /** the annotator network to export to ONNX (network kind) */
  annotator?: string;
}

export const CONDITIONING_TYPES: Record<ConditioningType, TypeSpec> = {
  canny: {
    kind: 'algorithm',
    preprocessor: 'Canny edges (TypeScript)',
    controlnet: 'control_v11p_sd15_canny',
  },
  tile: {
    kind: 'algorithm',
    preprocessor: 'down/up-scaled input (TypeScript)',
    controlnet: 'control_v11f1e_sd15_tile',
  },
  qr: {
    kind: 'algorithm',
    preprocessor: 'the input image as is',
    controlnet: 'a QR ControlNet such as control_v1p_sd15_qrcode_monster',
  },
  depth: {
    kind: 'network',
    preprocessor: 'depth estimation (ONNX annotator)',
    controlnet: 'control_v11f1p_sd15_depth',
    annotator: 'a monocular depth network (MiDaS DPT-Hybrid or Depth Anything) exported to ONNX',
  },
  hed: {
    kind: 'network',
    preprocessor: 'HED soft edges (ONNX annotator)',
    controlnet: 'control_v11p_sd15_softedge',
    annotator: 'the HED edge network (ControlNet annotator ControlNetHED_Apache2) exported to ONNX',
  },
  lineart: {
    kind: 'network',
    preprocessor: 'line art extraction (ONNX annotator)',
    controlnet: 'control_v11p_sd15_lineart',
    annotator:
      'the ControlNet 1.1 lineart generator (sk_model) exported to ONNX, output inverted to white lines',
  },
  pose: {
    kind: 'network',
    preprocessor: 'human pose skeleton (ONNX annotator)',
    controlnet: 'control_v11p_sd15_openpose',
    annotator: 'an OpenPose/DWPose model exported to ONNX with the skeleton rendering in the graph',
  },
  segroom: {
    kind: 'network',
    preprocessor: 'ADE20K semantic segmentation (ONNX annotator)',
    controlnet: 'control_v11p_sd15_seg',
    annotator:
      'an ADE20K segmentation network (UperNet/OneFormer) exported to ONNX with the ADE20K colour palette applied',
  },
  mlsd: {
    kind: 'network',
    preprocessor: 'M-LSD straight lines (ONNX annotator)',
    controlnet: 'control_v11p_sd15_mlsd',
    annotator: 'the M-LSD line detector exported to ONNX with line decoding and rendering in the graph',
  },
  ipadapter: { kind: 'ip-adapter', preprocessor: 'CLIP image embedding (IP-Adapter)' },
  reference: { kind: 'ip-adapter', preprocessor: 'CLIP patch features (IP-Adapter Plus resampler)' },
  composition: {
    kind: 'ip-adapter',
    preprocessor: 'CLIP patch features (IP-Adapter Plus composition adapter)',
  },
};

export interface ConditioningStatus {
  type: ConditioningType;
  kind: ConditioningKind;
  available: boolean;
  preprocessor: string;
  /** why it is unavailable */
  reason?: string;
  /** exactly what to install (absent when installing cannot help) */
  install?: string;
  /** the ControlNet checkpoint that will be loaded (available types) */
  controlnetPath?: string;
  /** the folder holding annotator.onnx (network types) */
  annotatorDir?: string;
  /** the adapter .safetensors (ip-adapter types, available) */
  adapterPath?: string;
  /** the CLIP image encoder folder (ip-adapter types, available) */
  imageEncoderDir?: string;
}

/**
 * The adapter file each IP-Adapter type loads from `<modelsDir>/ip-adapter/` (h94/IP-Adapter names for SD 1.5;
 * the composition adapter is ostris/ip-composition-adapter), and the projection its header must show.
 * FaceID's file is a safetensors conversion of the published pickled .bin (which is never loaded).
 */
export const IP_ADAPTER_FILES = {
  ipadapter: { file: 'ip-adapter_sd15.safetensors', projection: 'linear', source: 'h94/IP-Adapter models/' },
  reference: {
    file: 'ip-adapter-plus_sd15.safetensors',
    projection: 'resampler',
    source: 'h94/IP-Adapter models/',
  },
  composition: {
    file: 'ip_plus_composition_sd15.safetensors',
    projection: 'resampler',
    source: 'ostris/ip-composition-adapter',
  },
  faceid: {
    file: 'ip-adapter-faceid_sd15.safetensors',
    projection: 'faceid-mlp',
    source:
      'h94/IP-Adapter-FaceID ip-adapter-faceid_sd15.bin converted to .safetensors (state dict flattened to image_proj.* / ip_adapter.* keys)',
  },
} as const satisfies Record<string, { file: string; projection: IpProjectionKind; source: string }>;

export type IpAdapterType = keyof typeof IP_ADAPTER_FILES;

export function ipAdapterDir(modelsDir: string): string {
  return join(modelsDir, 'ip-adapter');
}

export function imageEncoderDir(modelsDir: string): string {
  return join(ipAdapterDir(modelsDir), 'image_encoder');
}

const IMAGE_ENCODER_INSTALL =
  'the IP-Adapter image encoder (h94/IP-Adapter models/image_encoder: OpenCLIP ViT-H/14 as a diffusers CLIPVisionModelWithProjection folder, config.json + model.safetensors)';

/** Why the image encoder folder is unusable, or undefined when it looks installed (header read only). */
function imageEncoderProblem(dir: string): string | undefined {
  if (!existsSync(join(dir, 'config.json')) || !existsSync(join(dir, 'model.safetensors'))) return 'missing';
  try {
    const f = SafetensorsFile.open(join(dir, 'model.safetensors'));
    try {
      if (!f.tensors.has('visual_projection.weight'))
        return `${dir}/model.safetensors has no visual_projection.weight (not a CLIPVisionModelWithProjection)`;
    } finally {
      f.close();
    }
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

/** Why an adapter file is unusable for `type`, or undefined when its header is the right kind of adapter. */
function adapterProblem(path: string, type: IpAdapterType): string | undefined {
  if (!existsSync(path)) return 'missing';
  try {
    const f = SafetensorsFile.open(path);
    try {
      const cfg = detectIpAdapterConfig(sourceFromFile(f));
      const want = IP_ADAPTER_FILES[type].projection;
      if (cfg.projection !== want)
        return `${path} is a "${cfg.projection}" IP-Adapter, "${type}" needs a "${want}" one`;
    } finally {
      f.close();
    }
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

export interface AdapterAvailability {
  available: boolean;
  reason?: string;
  install?: string;
  adapterPath: string;
  imageEncoderDir?: string;
}

/** An IP-Adapter type (or FaceID): which installed files it needs, and what is missing. */
export function adapterAvailability(modelsDir: string, type: IpAdapterType): AdapterAvailability {
  const spec = IP_ADAPTER_FILES[type];
  const adapterPath = join(ipAdapterDir(modelsDir), spec.file);
  const encoder = type === 'faceid' ? undefined : imageEncoderDir(modelsDir);
  const problems: string[] = [];
  const installs: string[] = [];
  const adapter = adapterProblem(adapterPath, type);
  if (adapter) {
    problems.push(adapter === 'missing' ? `the adapter ${spec.file} is not installed` : adapter);
    installs.push(`${spec.file} (${spec.source}) as ${adapterPath}`);
  }
  if (encoder) {
    const enc = imageEncoderProblem(encoder);
    if (enc) {
      problems.push(enc === 'missing' ? 'the image encoder is not installed' : enc);
      installs.push(`${IMAGE_ENCODER_INSTALL} in ${encoder}/`);
    }
  } else if (!existsSync(arcfacePath(modelsDir))) {
    problems.push('the face-recognition network is not installed');
    installs.push(`${ARCFACE_INSTALL} as ${arcfacePath(modelsDir)}`);
  }
  if (!problems.length) return { available: true, adapterPath, imageEncoderDir: encoder };
  return {
    available: false,
    reason: `${type === 'faceid' ? 'FaceID' : `"${type}"`}: ${problems.join('; ')}`,
    install: installs.join(', and '),
    adapterPath,
    imageEncoderDir: encoder,
  };
}

export function controlnetDir(modelsDir: string, type: ConditioningType): string {
  return join(modelsDir, 'controlnet', type);
}

/**
 * The ControlNet checkpoint in a type's folder: the folder itself when it is a diffusers component folder
 * (config.json + safetensors), else its only .safetensors file. Undefined when there is none.
 */
export function findControlNetCheckpoint(dir: string): string | undefined {
  if (!existsSync(dir) || !statSync(dir).isDirectory()) return undefined;
  const names = readdirSync(dir);
  const weights = names.filter((n) => n.endsWith('.safetensors')).sort();
  if (names.includes('config.json') && weights.length) return dir;
  if (weights.length === 1) return join(dir, weights[0]);
  if (weights.length > 1)
    throw new Error(`${dir}: ${weights.length} .safetensors files (${weights.join(', ')}); keep exactly one`);
  const pickled = names.filter((n) => /\.(pth|ckpt|bin|pt)$/.test(n));
  if (pickled.length)
    throw new Error(
      `${dir}: ${pickled.join(', ')} is a pickled checkpoint, which is never loaded; convert it to .safetensors`,
    );
  return undefined;
}

function installText(
  modelsDir: string,
  type: ConditioningType,
  spec: TypeSpec,
  needCn: boolean,
  needAnn: boolean,
) {
  const dir = controlnetDir(modelsDir, type);
  const parts: string[] = [];
  if (needCn)
    parts.push(
      `an SD 1.5 ControlNet (${spec.controlnet}) as one .safetensors file or a diffusers folder in ${dir}/`,
    );
  if (needAnn) parts.push(`${spec.annotator} as ${join(dir, ANNOTATOR_FILE)}`);
  return parts.join(', and ');
}

function statusOf(modelsDir: string, type: ConditioningType): ConditioningStatus {
  const spec = CONDITIONING_TYPES[type];
  const base = { type, kind: spec.kind, preprocessor: spec.preprocessor };
  if (spec.kind === 'ip-adapter') {
    const a = adapterAvailability(modelsDir, type as IpAdapterType);
    return a.available
      ? { ...base, available: true, adapterPath: a.adapterPath, imageEncoderDir: a.imageEncoderDir }
      : { ...base, available: false, reason: a.reason, install: a.install };
  }
  const dir = controlnetDir(modelsDir, type);
  let checkpoint: string | undefined;
  let problem: string | undefined;
  try {
    checkpoint = findControlNetCheckpoint(dir);
    if (checkpoint) openControlNet(checkpoint).close();
  } catch (e) {
    problem = (e as Error).message;
  }
  const needAnn = spec.kind === 'network' && !existsSync(join(dir, ANNOTATOR_FILE));
  const needCn = !checkpoint || !!problem;
  if (!needCn && !needAnn) {
    return {
      ...base,
      available: true,
      controlnetPath: checkpoint,
      annotatorDir: spec.kind === 'network' ? dir : undefined,
    };
  }
  const missing = [needCn ? 'ControlNet' : '', needAnn ? 'annotator' : ''].filter(Boolean).join(' and ');
  return {
    ...base,
    available: false,
    reason: problem
      ? `the ControlNet in ${dir} cannot be loaded: ${problem}`
      : `the "${type}" ${missing} ${needCn && needAnn ? 'are' : 'is'} not installed`,
    install: installText(modelsDir, type, spec, needCn, needAnn),
  };
}

/** One entry per Astria controlnet type, in the API's order. */
export function conditioningAvailability(modelsDir: string): ConditioningStatus[] {
  return CONTROLNETS.map((t) => statusOf(modelsDir, t));
}

/** The types a generator can list in `capabilities().controlnets`. */
export function availableControlnets(modelsDir: string): ConditioningType[] {
  return conditioningAvailability(modelsDir)
    .filter((s) => s.available)
    .map((s) => s.type);
}

/** The 422 message for an unavailable type: what is missing and exactly what to install. */
export function unavailableMessage(s: ConditioningStatus): string {
  return s.install
    ? `${s.reason}; install ${s.install}`
    : `controlnet "${s.type}" is unavailable: ${s.reason}`;
}

/**
 * FaceID (IP-Adapter FaceID: an ArcFace embedding of the tune's faces into decoupled cross-attention, plus its
 * LoRA): needs `ip-adapter/ip-adapter-faceid_sd15.safetensors` and `faces/arcface.onnx` (the face detector
 * ships with the npm package). `faceid` tunes are refused at creation with this text when unavailable.
 */
export function faceIdAvailability(modelsDir: string): AdapterAvailability {
  return adapterAvailability(modelsDir, 'faceid');
}

/** The 422 text for FaceID when it is unavailable. */
export function faceIdUnavailableMessage(a: AdapterAvailability): string {
  return `${a.reason}; install ${a.install}`;
}
