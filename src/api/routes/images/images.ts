// Signed image URLs (no API key: clients hand them to browsers). The signature covers namespace, id and expiry.
// A tune's weights file (ckpt_url) is served the same way.
import type { FastifyInstance, FastifyReply } from 'fastify';
import { type ImageNamespace, SAFETENSORS_TYPE } from '../../../blobs/signed-urls.ts';
import type { Services } from '../../../domain/context.ts';
import { AppError } from '../../../domain/errors.ts';
import { tuneImageContentType } from '../../../domain/tunes.ts';
import { getImage } from '../../../store/prompts.ts';
import { getTune, listTuneImageById } from '../../../store/tunes.ts';
import { ckptKeyOf } from '../../presenters/tune.ts';

export async function imageRoutes(app: FastifyInstance, { svc }: { svc: Services }) {
  const verify = (ns: ImageNamespace, params: unknown) => {
    const { id, expires, file } = params as Record<string, string>;
    const m = /^([A-Za-z0-9_-]+)\.(jpg|png|webp|safetensors)$/.exec(file ?? '');
    if (!m || !svc.signer.verify(ns, Number(id), Number(expires), m[1]))
      throw new AppError('not_found', 'Image not found or link expired');
    return Number(id);
  };
  const send = async (reply: FastifyReply, key: string | null | undefined, type: string, what = 'Image') => {
    const data = key ? await svc.blobs.get(key) : undefined;
    if (!data) throw new AppError('not_found', `${what} not found`);
    return reply
      .type(type)
      .header('cache-control', 'private, max-age=3600')
      .header('x-content-type-options', 'nosniff')
      .send(data);
  };

  app.get('/images/:id/:expires/:file', { config: { public: true } }, async (req, reply) => {
    const img = await getImage(svc.db, verify('images', req.params));
    return send(reply, img?.blob_key, img?.content_type ?? 'image/jpeg');
  });

  app.get('/tune-images/:id/:expires/:file', { config: { public: true } }, async (req, reply) => {
    const img = await listTuneImageById(svc.db, verify('tune-images', req.params));
    return send(reply, img?.blob_key, tuneImageContentType(img?.format ?? 'jpeg'));
  });

  app.get('/tune-weights/:id/:expires/:file', { config: { public: true } }, async (req, reply) => {
    const tune = await getTune(svc.db, verify('tune-weights', req.params));
    const key = tune && ckptKeyOf(tune);
    if (!key) throw new AppError('not_found', 'Weights not found');
    reply.header('content-disposition', `attachment; filename="tune-${tune.id}.safetensors"`);
    return send(reply, key, SAFETENSORS_TYPE, 'Weights');
  });
}
