// Loads a CSV file from disk into a tabular data set (see parseCsv).
import { readFile } from 'node:fs/promises'
import { type CsvDataset, type CsvInit, parseCsv } from '../csv.js'

/**
 * Reads and parses a CSV file; errors name the file and line.
 * @throws CsvFormatError; fs errors as they are
 */
export async function loadCsv(path: string, init: Omit<CsvInit, 'source'>): Promise<CsvDataset> {
  if (typeof path !== 'string' || path === '') throw new TypeError('path must be a non-empty string')
  return parseCsv(await readFile(path, 'utf8'), { ...init, source: path })
}
