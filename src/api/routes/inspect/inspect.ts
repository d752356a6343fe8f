// POST /images/inspect (CLIENTS.md item 37): multipart `name` + `file`, or `file_url` (fetched through the guarded
// outbound client). Answers the measurements of src/domain/inspect.ts: blur, resolution, and the face fields the
// installed detector can measure; the others are left out (see there).
import type { FastifyInstance } from 'fastify';
import type { Services } from '../../../domain/context.ts';
import { validationError } from '../../../domain/errors.ts';
import { isUploadedFile } from '../../../domain/image-inputs.ts';
import { detectFaceFields, type FaceInspector, inspectPhoto } from '../../../domain/inspect.ts';
import { OutboundBlockedError } from '../../../net/guarded-fetch.ts';
import { unwrap } from '../../plugins/body.ts';

export async function inspectRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const limits = { maxBytes: svc.config.uploadMaxFileBytes, maxPixels: svc.config.imageMaxPixels };
  // A detector that cannot start (e.g. its weights package is missing) leaves the face keys out, logged once per
  // failure; the blur and resolution answers do not depend on it.
  const faces: FaceInspector = async (buf) => {
    try {
      return await detectFaceFields(buf);
    } catch (err) {
      svc.log.warn({ err }, 'face detector unavailable: inspect answers without face fields');
      return null;
    }
  };

  const download = async (url: string): Promise<Buffer> => {
    if (!/^https?:\/\//i.test(url) || !URL.canParse(url))
      throw validationError({ file_url: ['must be an http(s) URL'] });
    try {
      const res = await svc.outbound.fetch(url, { method: 'GET' });
      if (res.status < 200 || res.status >= 300)
        throw validationError({ file_url: [`could not be downloaded: HTTP ${res.status}`] });
      return res.body;
    } catch (e) {
      if (e instanceof OutboundBlockedError)
        throw validationError({ file_url: [`is not allowed: ${e.message}`] });
      if (e instanceof Error && !('statusCode' in e))
        throw validationError({ file_url: [`could not be downloaded: ${e.message}`] });
      throw e;
    }
  };

  app.post('/images/inspect', async (req) => {
    const body = unwrap(req.body, 'image');
    const name = typeof body.name === 'string' ? body.name.trim() : '';
    if (!name)
      throw validationError({ name: ['is required: the class of the subject (man, woman, dog, …)'] });
    let data: Buffer;
    if (isUploadedFile(body.file)) data = body.file.data;
    else if (typeof body.file_url === 'string' && body.file_url !== '') data = await download(body.file_url);
    else
      throw validationError({
        file: ['send an image as the multipart part `file`, or its URL as `file_url`'],
      });
    return inspectPhoto(name, data, limits, faces);
  });
}
