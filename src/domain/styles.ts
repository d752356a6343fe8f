// Style presets: each wraps the prompt text in a template and adds negative terms. The wording is our own,
// in the spirit of the widely used SDXL style presets (subject in the middle, medium and quality words around).
import type { Style } from './vocab.ts';

export interface StylePreset {
  template: string; // `{prompt}` is replaced by the prompt text
  negative: string;
}

export const STYLE_PRESETS: Record<Style, StylePreset> = {
  Cinematic: {
    template: 'cinematic film still of {prompt}, shallow depth of field, vignette, high budget, film grain',
    negative: 'anime, cartoon, graphic, text, painting, drawing, illustration, sketch, monochrome',
  },
  Animated: {
    template: 'animated movie scene of {prompt}, vibrant colours, expressive characters, clean shading',
    negative: 'photo, realistic, photorealistic, grainy, ugly, deformed',
  },
  'Digital Art': {
    template:
      'concept art of {prompt}, digital artwork, illustrative, painterly, matte painting, highly detailed',
    negative: 'photo, photorealistic, realism, ugly',
  },
  Photographic: {
    template: 'photograph of {prompt}, 50mm, natural light, highly detailed, sharp focus',
    negative: 'drawing, painting, crayon, sketch, graphite, impressionist, cartoon, anime',
  },
  'Fantasy art': {
    template:
      'ethereal fantasy concept art of {prompt}, magnificent, celestial, painterly, epic, majestic, magical',
    negative: 'photographic, realistic, realism, 35mm film, dslr, cropped, frame, text, deformed',
  },
  Neonpunk: {
    template:
      'neonpunk style {prompt}, cyberpunk, vaporwave, neon, vibrant, sharp, high contrast, magenta highlights',
    negative: 'painting, drawing, illustration, glitch, deformed, mutated, dull, muted colours',
  },
  Enhance: {
    template: 'breathtaking {prompt}, award-winning, professional, highly detailed',
    negative: 'ugly, deformed, noisy, blurry, distorted, grainy',
  },
  'Comic book': {
    template: 'comic book panel of {prompt}, graphic illustration, comic art, graphic novel art, vibrant',
    negative: 'photograph, deformed, glitch, noisy, realistic, stock photo',
  },
  Lowpoly: {
    template: 'low-poly style {prompt}, low-poly game art, polygon mesh, jagged, blocky, wireframe edges',
    negative: 'noisy, sloppy, messy, grainy, ugly, deformed, blurry',
  },
  'Line art': {
    template:
      'line art drawing of {prompt}, professional, sleek, modern, minimalist, graphic, vector graphics',
    negative: 'anime, photorealistic, 35mm film, deformed, glitch, blurry, noisy, realistic, photograph',
  },
};

/** Apply a style preset: the text goes into the template, the preset's negatives join the caller's. */
export function applyStyle(
  style: Style | undefined,
  text: string,
  negative: string | undefined,
): { text: string; negative: string | undefined } {
  if (!style) return { text, negative };
  const p = STYLE_PRESETS[style];
  return {
    text: p.template.replace('{prompt}', text),
    negative: [negative, p.negative].filter((s) => s?.trim()).join(', '),
  };
}
