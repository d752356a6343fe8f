// The conditioning part of `atelier models list`: every controlnet type of conditioningAvailability (the same
// statuses GET /conditioning and the prompt 422s use), available or not, and for the others the 422's text: what
// is missing and exactly what to install, or why installing cannot help.

import { type ConditioningStatus, unavailableMessage } from '../engine/conditioning.ts';

export function conditioningTable(modelsDir: string, statuses: ConditioningStatus[]): string[] {
  const lines = [
    `conditioning (prompt controlnet types; installed under ${modelsDir}/controlnet/<type>/)`,
    ['type', 'kind', 'available', 'preprocessor', 'missing / install'].join('\t'),
  ];
  for (const s of statuses)
    lines.push(
      [
        s.type,
        s.kind,
        s.available ? 'yes' : 'no',
        s.preprocessor,
        s.available ? '-' : unavailableMessage(s),
      ].join('\t'),
    );
  return lines;
}
