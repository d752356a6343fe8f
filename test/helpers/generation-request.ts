// A fully resolved GenerationRequest for generator tests: a 64x64 one-image euler txt2img on base tune 1 with every
// optional feature off; `over` sets what a test exercises.
import type { GenerationRequest } from '../../src/domain/ports.ts';

export function generationRequest(over: Partial<GenerationRequest> = {}): GenerationRequest {
  return {
    tune: { id: 1, branch: 'sd15', modelType: null, token: '', name: 'base', weightsKey: null },
    loras: [],
    text: 'a cat',
    negativePrompt: '',
    numImages: 1,
    width: 64,
    height: 64,
    seed: 1,
    steps: 2,
    cfgScale: 7.5,
    scheduler: 'euler',
    useLpw: false,
    style: null,
    superResolution: false,
    inpaintFaces: false,
    hiresFix: false,
    faceCorrect: false,
    faceSwap: false,
    colorGrading: null,
    filmGrain: false,
    controlnet: null,
    controlnetConditioningScale: null,
    controlnetTxt2img: false,
    denoisingStrength: 0.8,
    loraScale: null,
    inputImage: null,
    maskImage: null,
    ...over,
  };
}
