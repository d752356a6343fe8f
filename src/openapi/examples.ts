// Examples for the OpenAPI document, taken from the seed (/work/shared/seed/astria-prompts-api.md §5–6 and its
// integration notes). Request examples are the seed's verbatim. Response examples keep every value the seed shows
// and fill the fields Atelier adds (status, progress, …) with what the server answers in that state, so that each
// example validates against the response schema (test/openapi checks it).

/** Seed §6 "Example Request (Node.js)": the multipart fields, with the values the seed's code appends. */
export const seedMultipartPrompt = {
  'prompt[text]': 'a painting of ohwx man in the style of Van Gogh',
  'prompt[negative_prompt]': 'old, blemish, wrinkles, mole',
  'prompt[super_resolution]': true,
  'prompt[face_correct]': true,
  'prompt[callback]': 'https://your-callback-url.com?prompt_id=1',
};

/** Seed "For Image Generation (Prompts)". */
export const seedJsonPrompt = {
  prompt: {
    text: 'ohwx man in professional attire',
    negative_prompt: 'casual, blurry',
    num_images: 4,
    super_resolution: true,
  },
};

/** Seed §5 "Common Patterns". */
export const seedPatterns = {
  headshot: {
    summary: 'Professional headshot (seed §5)',
    value: {
      prompt: {
        text: 'professional headshot of ohwx man, business attire, clean background, studio lighting',
        negative_prompt: 'blurry, distorted, low quality, casual',
        cfg_scale: 7,
        steps: 30,
      },
    },
  },
  artistic: {
    summary: 'Artistic portrait (seed §5)',
    value: {
      prompt: {
        text: 'artistic portrait of ohwx woman, oil painting style, dramatic lighting',
        negative_prompt: 'photograph, realistic, blurry',
        style: 'Fantasy art',
        cfg_scale: 9,
      },
    },
  },
  action: {
    summary: 'Action scene (seed §5)',
    value: {
      prompt: {
        text: 'ohwx man in action movie scene, dynamic pose, cinematic lighting',
        style: 'Cinematic',
        cfg_scale: 8,
        steps: 25,
      },
    },
  },
};

/**
 * Seed "For Model Training (Tunes)" (the base64 data is shortened in the seed too). The seed's placeholder
 * callback `callback_url` would be refused (not a URL), so it is spelled as one.
 */
export const seedJsonTune = {
  tune: { title: 'Model Title', name: 'model name timestamp', callback: 'https://example.com/callback_url' },
  images: ['data:image/jpeg;base64,/9j/4AAQSkZJRg...', 'data:image/jpeg;base64,/9j/4AAQSkZJRg...'],
  steps: 500,
  face_crop: true,
};

/** The Atelier fields of a prompt whose parameters were all left blank, before processing. */
const blankPrompt = {
  cfg_scale: null,
  steps: null,
  seed: null,
  num_images: 4,
  w: null,
  h: null,
  aspect_ratio: null,
  resolution: null,
  scheduler: null,
  style: null,
  super_resolution: null,
  inpaint_faces: null,
  hires_fix: null,
  face_correct: null,
  face_swap: null,
  use_lpw: null,
  color_grading: null,
  film_grain: null,
  controlnet: null,
  denoising_strength: null,
  controlnet_conditioning_scale: null,
  controlnet_txt2img: null,
  input_image_url: null,
  mask_image_url: null,
  lora_scale: null,
  pack_id: null,
  status: 'queued',
  images: [],
  user_error: null,
  progress: 0,
  phase: null,
  progress_step: null,
  progress_total: null,
  queue_position: null,
  notes: [],
};

/** Seed §6 "Example Response (Create Prompt)", with Atelier's extra fields as created. */
export const seedPromptCreated = {
  ...blankPrompt,
  id: 1,
  callback: 'https://your-callback-url.com?prompt_id=1',
  text: 'a painting of ohwx man in the style of Van Gogh',
  negative_prompt: 'old, blemish, wrinkles, mole',
  super_resolution: true,
  face_correct: true,
  trained_at: null,
  started_training_at: null,
  created_at: '2022-10-06T16:12:54.505Z',
  updated_at: '2022-10-06T16:12:54.505Z',
  tune_id: 1,
  url: 'http://api.astria.ai/tunes/1/prompts/1.json',
};

/** Seed §6 "Example Response (Retrieve Prompt)", with the values processing resolved. */
export const seedPromptCompleted = {
  ...seedPromptCreated,
  callback: 'https://optional-callback-url.com/to-your-service-when-ready',
  num_images: 1,
  cfg_scale: 7.5,
  steps: 30,
  seed: 123456,
  w: 512,
  h: 512,
  scheduler: 'dpm++2m_karras',
  status: 'completed',
  images: [{ id: 1, url: 'https://astria-generated-image-url.com/image1.jpg' }],
  progress: 1,
  trained_at: '2022-10-06T16:20:00.000Z',
  started_training_at: '2022-10-06T16:12:55.000Z',
  updated_at: '2022-10-06T16:20:00.505Z',
};

/** A tune as created from the seed's tune request (two data-URL images, steps 500, face_crop). */
export const seedTuneCreated = {
  id: 1,
  title: 'Model Title',
  name: 'model name timestamp',
  token: 'ohwx',
  branch: 'sd15',
  model_type: 'lora',
  base_tune_id: null,
  steps: 500,
  face_crop: true,
  training_face_correct: null,
  callback: 'https://example.com/callback_url',
  characteristics: {},
  args: null,
  orig_images: [
    'http://localhost:3000/tune-images/1/1665677200/3uD8m2YkqSg0cR1v9pVq0nq1l5wJ4bXy.jpg',
    'http://localhost:3000/tune-images/2/1665677200/Qm1xK2c3VhZ9pL0tY7rN5sW8dE4fA6uB.jpg',
  ],
  ckpt_url: null,
  ckpt_urls: [],
  eta: null,
  started_training_at: null,
  trained_at: null,
  failed_at: null,
  expires_at: null,
  created_at: '2022-10-06T16:12:54.505Z',
  updated_at: '2022-10-06T16:12:54.505Z',
  url: 'http://localhost:3000/tunes/1.json',
  status: 'queued',
  progress: 0,
  queue_position: 1,
  user_error: null,
  error_message: null,
  notes: [],
};

/** Seed §7 issue 1, as Atelier answers it. */
export const seedImagesMissingError = {
  error: 'Images must contain at least one image',
  errors: { images: ['must contain at least one image'] },
  code: 'images_missing',
  request_id: 'req_5f2c0a9d3e1b7c44',
};
