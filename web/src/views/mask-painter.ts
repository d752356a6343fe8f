// A simple inpainting-mask painter: the input image with a canvas on top; painting marks the area to repaint.
// The exported mask is a PNG at the input image's own size, white where painted, black elsewhere (the one-channel
// mask convention of the seed's `mask_image`). A mask file can be chosen instead, for keyboard-only use.
import { h, uid } from '../dom.ts';

export interface MaskPainter {
  el: HTMLElement;
  /** shows `file` under the canvas and sizes the canvas to it; `null` disables painting */
  setImage(file: File | null): Promise<void>;
  /** the painted mask as PNG, or null when nothing was painted */
  exportMask(): Promise<Blob | null>;
  clear(): void;
}

export function createMaskPainter(): MaskPainter {
  const canvas = h('canvas', { class: 'mask-canvas', 'aria-label': 'Mask painting area' });
  const backdrop = h('img', { class: 'mask-backdrop', alt: 'Input image under the mask' });
  const stage = h('div', { class: 'mask-stage' }, backdrop, canvas);
  const sizeId = uid('brush');
  const brush = h('input', {
    id: sizeId,
    type: 'range',
    min: '4',
    max: '128',
    value: '32',
    name: 'brush_size',
  });
  const erase = h('input', { type: 'checkbox', id: uid('erase'), name: 'erase' });
  const clearButton = h('button', { type: 'button', class: 'secondary' }, 'Clear mask');
  const tools = h(
    'div',
    { class: 'mask-tools' },
    h('label', { for: sizeId }, 'Brush size'),
    brush,
    h('label', { for: erase.id, class: 'inline' }, erase, ' Erase'),
    clearButton,
  );
  const el = h('div', { class: 'mask-painter', hidden: true }, stage, tools);
  const g = canvas.getContext('2d')!;
  let painted = false;
  let last: { x: number; y: number } | null = null;

  // Pointer position in canvas pixels (the canvas is displayed scaled to fit).
  const toCanvas = (e: PointerEvent) => {
    const r = canvas.getBoundingClientRect();
    return {
      x: ((e.clientX - r.left) / r.width) * canvas.width,
      y: ((e.clientY - r.top) / r.height) * canvas.height,
    };
  };
  const stroke = (from: { x: number; y: number }, to: { x: number; y: number }) => {
    const scale = canvas.width / canvas.getBoundingClientRect().width;
    g.globalCompositeOperation = erase.checked ? 'destination-out' : 'source-over';
    g.strokeStyle = '#fff';
    g.lineCap = 'round';
    g.lineJoin = 'round';
    g.lineWidth = Number(brush.value) * scale;
    g.beginPath();
    g.moveTo(from.x, from.y);
    g.lineTo(to.x, to.y);
    g.stroke();
    painted = true;
  };
  canvas.addEventListener('pointerdown', (e) => {
    canvas.setPointerCapture(e.pointerId);
    last = toCanvas(e);
    stroke(last, last);
  });
  canvas.addEventListener('pointermove', (e) => {
    if (!last) return;
    const p = toCanvas(e);
    stroke(last, p);
    last = p;
  });
  const end = () => {
    last = null;
  };
  canvas.addEventListener('pointerup', end);
  canvas.addEventListener('pointercancel', end);

  const clear = () => {
    g.clearRect(0, 0, canvas.width, canvas.height);
    painted = false;
  };
  clearButton.addEventListener('click', clear);

  return {
    el,
    async setImage(file) {
      if (backdrop.src.startsWith('blob:')) URL.revokeObjectURL(backdrop.src);
      if (!file) {
        el.hidden = true;
        backdrop.removeAttribute('src');
        return;
      }
      const bitmap = await createImageBitmap(file);
      canvas.width = bitmap.width;
      canvas.height = bitmap.height;
      bitmap.close();
      backdrop.src = URL.createObjectURL(file);
      clear();
      el.hidden = false;
    },
    async exportMask() {
      if (!painted) return null;
      const out = document.createElement('canvas');
      out.width = canvas.width;
      out.height = canvas.height;
      const o = out.getContext('2d')!;
      o.fillStyle = '#000';
      o.fillRect(0, 0, out.width, out.height);
      o.drawImage(canvas, 0, 0);
      return new Promise((resolve) => out.toBlob((b) => resolve(b), 'image/png'));
    },
    clear,
  };
}
