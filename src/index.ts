// Library entry point: build the app and runtime programmatically (tests, embedding).
export { buildApp } from './api/app.ts';
export { defaultEngines, openRuntime } from './cli/runtime.ts';
export { type Config, loadConfig } from './config.ts';
export type { Engines, GenerationRequest, Generator, Trainer, TrainingRequest } from './domain/ports.ts';
export type { JobQueue } from './jobs/queue.ts';
