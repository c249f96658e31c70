// Argument checks shared by the accountant and the mechanisms; each RangeError names the argument and its value.

/** @throws RangeError if z is not a finite number > 0 */
export function checkNoiseMultiplier(noiseMultiplier: number): void {
  if (!(noiseMultiplier > 0 && Number.isFinite(noiseMultiplier))) {
    throw new RangeError(`noiseMultiplier must be a finite number > 0, got ${noiseMultiplier}`)
  }
}

/** @throws RangeError if the clip norm C is not a finite number > 0 */
export function checkClipNorm(clipNorm: number): void {
  if (!(clipNorm > 0 && Number.isFinite(clipNorm))) throw new RangeError(`clipNorm must be a finite number > 0, got ${clipNorm}`)
}

/** @throws RangeError if m, the expected number of clients per round, is not a finite number > 0 */
export function checkExpectedClients(expectedClients: number): void {
  if (!(expectedClients > 0 && Number.isFinite(expectedClients))) {
    throw new RangeError(`expectedClients must be a finite number > 0, got ${expectedClients}`)
  }
}
