// `--out DIR`: a completed prompt's images saved as DIR/<prompt id>-<n>.<ext> (n from 1, extension from the
// content type), so names are predictable for scripts and a second run overwrites rather than duplicates.
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { type AtelierClient, type Prompt, promptImageUrls } from '../../client/index.ts';

const EXT: Record<string, string> = { 'image/jpeg': 'jpg', 'image/png': 'png', 'image/webp': 'webp' };

export async function saveImages(client: AtelierClient, prompt: Prompt, dir: string): Promise<string[]> {
  await mkdir(dir, { recursive: true });
  const files: string[] = [];
  for (const [i, url] of promptImageUrls(prompt).entries()) {
    const { data, contentType } = await client.downloadImage(url);
    const ext =
      EXT[contentType.split(';')[0].trim()] ?? (/\.(\w+)$/.exec(new URL(url).pathname)?.[1] || 'bin');
    const file = join(dir, `${prompt.id}-${i + 1}.${ext}`);
    await writeFile(file, data);
    files.push(file);
  }
  return files;
}
