// QR (QR Code Monster style) preprocessor: the input image itself is the control image. QR ControlNets are
// trained on the raw black-and-white pattern, so nothing is detected or thresholded; only the layout is
// normalised to 3 channels.

import type { Tensor } from '../components.ts';
import { assertImage } from './image-ops.ts';

export function qrControlImage(img: Tensor): Tensor {
  const { height, width, channels } = assertImage(img);
  if (channels === 3) return { data: img.data.slice(), dims: [...img.dims] };
  const out = new Float32Array(height * width * 3);
  for (let k = 0; k < height * width; k++) {
    const p = k * channels;
    out[3 * k] = img.data[p];
    out[3 * k + 1] = img.data[channels > 1 ? p + 1 : p];
    out[3 * k + 2] = img.data[channels > 2 ? p + 2 : p];
  }
  return { data: out, dims: [1, height, width, 3] };
}
