// Pack row → Astria pack JSON (CLIENTS.md item 34). Atelier is self-hosted and bills nothing: `cost_mc_hash` is
// 0 for every class, and `costs` carries the real number of images each class's prompts produce.
import type { Pack, PackPrompt } from '../../../store/packs.ts';

const imagesOf = (p: PackPrompt) => {
  const n = (JSON.parse(p.attributes) as { num_images?: number }).num_images;
  return typeof n === 'number' ? n : 4; // DEFAULT_NUM_IMAGES of a prompt that names none
};

export function presentPack(pack: Pack, prompts: PackPrompt[], opts: { withPrompts?: boolean } = {}) {
  const mine = prompts.filter((p) => p.pack_id === pack.id);
  const classes = [...new Set(mine.map((p) => p.class_name))];
  const costs = Object.fromEntries(
    classes.map((c) => {
      const list = mine.filter((p) => p.class_name === c);
      return [
        c,
        { cost: 0, num_prompts: list.length, num_images: list.reduce((a, p) => a + imagesOf(p), 0) },
      ];
    }),
  );
  return {
    id: pack.id,
    slug: pack.slug,
    title: pack.title,
    subtitle: pack.subtitle,
    description: pack.description,
    cover_url: pack.cover_url,
    base_tune_id: pack.base_tune_id,
    token: pack.token,
    model_type: pack.model_type,
    main_class_name: pack.main_class_name,
    user_id: pack.account_id,
    public_at: pack.public_at,
    class_names: classes,
    costs,
    cost_mc_hash: Object.fromEntries(classes.map((c) => [c, 0])),
    created_at: pack.created_at,
    updated_at: pack.updated_at,
    ...(opts.withPrompts && {
      prompts_per_class: Object.fromEntries(
        classes.map((c) => [
          c,
          mine
            .filter((p) => p.class_name === c)
            .map((p) => ({
              id: p.id,
              text: p.text,
              ...(JSON.parse(p.attributes) as Record<string, unknown>),
            })),
        ]),
      ),
    }),
  };
}
