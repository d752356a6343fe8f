// Enumerations of the Astria API (seed §3–4, API.md §2–3).
export const SCHEDULERS = [
  'euler',
  'euler_a',
  'dpm++2m_karras',
  'dpm++sde_karras',
  'dpm++2m',
  'dpm++sde',
  'lcm',
  'tcd',
] as const;
export const STYLES = [
  'Cinematic',
  'Animated',
  'Digital Art',
  'Photographic',
  'Fantasy art',
  'Neonpunk',
  'Enhance',
  'Comic book',
  'Lowpoly',
  'Line art',
] as const;
export const COLOR_GRADINGS = ['Film Velvia', 'Film Portra', 'Ektar'] as const;
export const CONTROLNETS = [
  'composition',
  'reference',
  'segroom',
  'ipadapter',
  'lineart',
  'canny',
  'depth',
  'mlsd',
  'hed',
  'pose',
  'tile',
  'qr',
] as const;
export const ASPECT_RATIOS = [
  '1:1',
  '16:9',
  '9:16',
  '21:9',
  '9:21',
  '3:2',
  '2:3',
  '5:4',
  '4:5',
  '4:3',
  '3:4',
] as const;
export const BRANCHES = ['sd15', 'sdxl1', 'flux1', 'fast'] as const;
export const MODEL_TYPES = ['lora', 'faceid', 'pti', 'checkpoint'] as const;

export type Scheduler = (typeof SCHEDULERS)[number];
export type Style = (typeof STYLES)[number];
export type Branch = (typeof BRANCHES)[number];
export type ModelType = (typeof MODEL_TYPES)[number];
