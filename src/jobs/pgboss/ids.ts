// The JobQueue seam speaks numeric job ids; pg-boss keys jobs by uuid. The numeric id comes from a sequence and is
// written into the uuid's last 12 hex digits, so each maps to the other without a lookup table.
const PREFIX = '00000000-0000-4000-8000-';

export function uuidOfJobId(id: number): string {
  if (!Number.isSafeInteger(id) || id < 0 || id >= 2 ** 48)
    throw new RangeError(`job id out of range: ${id}`);
  return PREFIX + id.toString(16).padStart(12, '0');
}

export function jobIdOfUuid(uuid: string): number {
  if (!uuid.startsWith(PREFIX)) throw new Error(`not an Atelier job uuid: ${uuid}`);
  return Number.parseInt(uuid.slice(PREFIX.length), 16);
}
