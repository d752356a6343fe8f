// Stands in for an external LoRA trainer in external-trainer.test.ts: reads the config, checks the dataset
// folder, prints progress lines, writes a tiny kohya LoRA. FAKE_TRAINER_MODE: ok | fail | hang | no-output.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

const config = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const mode = process.env.FAKE_TRAINER_MODE ?? 'ok';
const files = readdirSync(config.dataset_dir).sort();
const images = files.filter((f) => f.endsWith('.png'));
for (const img of images) {
  const txt = readFileSync(join(config.dataset_dir, img.replace(/\.png$/, '.txt')), 'utf8').trim();
  if (txt !== config.caption) throw new Error(`caption of ${img} is "${txt}"`);
}
console.log(`found ${images.length} images`);
if (mode === 'fail') {
  console.error('CUDA out of memory (simulated)');
  process.exit(3);
}
if (mode === 'hang') {
  console.log(`progress 1/${config.steps} loss=0.5`);
  setInterval(() => {}, 1000);
} else {
  for (let s = 1; s <= config.steps; s++)
    console.log(`progress ${s}/${config.steps} loss=${(1 / s).toFixed(4)}`);
  if (mode !== 'no-output') {
    const name = 'lora_unet_mid_block_attentions_0_transformer_blocks_0_attn1_to_q';
    const tensors = [
      [`${name}.lora_down.weight`, [1, 2], [0.5, -0.5]],
      [`${name}.lora_up.weight`, [2, 1], [0.25, 0.75]],
      [`${name}.alpha`, [], [1]],
    ];
    const header = {};
    const blobs = [];
    let offset = 0;
    for (const [key, shape, values] of tensors) {
      const bytes = Buffer.from(new Float32Array(values).buffer);
      header[key] = { dtype: 'F32', shape, data_offsets: [offset, offset + bytes.length] };
      offset += bytes.length;
      blobs.push(bytes);
    }
    let h = Buffer.from(JSON.stringify(header));
    h = Buffer.concat([h, Buffer.alloc((8 - (h.length % 8)) % 8, 0x20)]);
    const len = Buffer.alloc(8);
    len.writeBigUInt64LE(BigInt(h.length));
    writeFileSync(config.output_path, Buffer.concat([len, h, ...blobs]));
  }
}
