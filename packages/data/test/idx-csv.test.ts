// IDX and CSV parsing: valid files round-trip; bad magic, truncated data, wrong dims, ragged rows and non-numeric values are named.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { encodeIdx, type IdxArray, parseCsv, parseIdx } from '@weft/data'
import { loadCsv, readIdxFile } from '@weft/data/node'
import fc from 'fast-check'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'

const images: IdxArray = { dtype: 'uint8', dims: [2, 3, 3], data: Uint8Array.from({ length: 18 }, (_, i) => i * 7) }

describe('IDX', () => {
  let dir: string
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'weft-idx-'))
  })
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true })
  })

  it('decode(encode(x)) = x for every dtype', () => {
    const arb = fc.oneof(
      fc.array(fc.integer({ min: 0, max: 255 })).map((v) => ({ dtype: 'uint8' as const, dims: [v.length], data: Uint8Array.from(v) })),
      fc.array(fc.integer({ min: -(2 ** 31), max: 2 ** 31 - 1 })).map((v) => ({ dtype: 'int32' as const, dims: [v.length], data: Int32Array.from(v) })),
      fc.array(fc.integer({ min: -32768, max: 32767 })).map((v) => ({ dtype: 'int16' as const, dims: [v.length, 1], data: Int16Array.from(v) })),
      fc.array(fc.double()).map((v) => ({ dtype: 'float64' as const, dims: [v.length], data: Float64Array.from(v) })),
    )
    fc.assert(
      fc.property(arb, (a) => {
        expect(parseIdx(encodeIdx(a), 'x')).toEqual(a)
      }),
    )
  })

  it('reads gzip and raw files alike', async () => {
    await writeFile(join(dir, 'a.idx'), encodeIdx(images))
    await writeFile(join(dir, 'a.idx.gz'), gzipSync(encodeIdx(images)))
    const raw = await readIdxFile(join(dir, 'a.idx'), { dtype: 'uint8', dims: [null, 3, 3] })
    const gz = await readIdxFile(join(dir, 'a.idx.gz'))
    expect(Array.from(gz.data)).toEqual(Array.from(images.data))
    expect(raw.dims).toEqual([2, 3, 3])
  })

  it('a wrong magic number names the file and the value got', async () => {
    const bytes = encodeIdx(images)
    bytes[0] = 0x12
    await writeFile(join(dir, 'bad-magic.gz'), gzipSync(bytes))
    const err = await readIdxFile(join(dir, 'bad-magic.gz')).catch((e: unknown) => e)
    expect(err).toMatchObject({ name: 'IdxFormatError', message: expect.stringMatching(/bad-magic\.gz: bad IDX magic number.*got 0x12000803/) })
    const dtype = encodeIdx(images)
    dtype[2] = 0x0a
    expect(() => parseIdx(dtype, 'f')).toThrow(/magic number.*got 0x00000a03/)
  })

  it('truncated data or a truncated gzip stream names the file, expected vs got', async () => {
    const bytes = encodeIdx(images).subarray(0, 30)
    expect(() => parseIdx(bytes, 'imgs.idx')).toThrow(/imgs\.idx: truncated data: dims \[2, 3, 3\] of uint8 need 18 data bytes, got 14/)
    expect(() => parseIdx(bytes.subarray(0, 10), 'imgs.idx')).toThrow(/truncated header: expected 16 bytes/)
    const gz = gzipSync(encodeIdx(images))
    await writeFile(join(dir, 'cut.gz'), gz.subarray(0, gz.length - 10))
    await expect(readIdxFile(join(dir, 'cut.gz'))).rejects.toMatchObject({ name: 'IdxFormatError', message: expect.stringContaining('cut.gz: corrupt or truncated gzip') })
  })

  it('wrong dims or dtype against an expectation are named', () => {
    expect(() => parseIdx(encodeIdx(images), 'i', { dims: [null, 28, 28] })).toThrow(/i: wrong dims: expected \[\*, 28, 28\], got \[2, 3, 3\]/)
    expect(() => parseIdx(encodeIdx(images), 'i', { dims: [null] })).toThrow(/wrong dims/)
    expect(() => parseIdx(encodeIdx(images), 'i', { dtype: 'float32' })).toThrow(/wrong dtype: expected float32, got uint8/)
    const extra = new Uint8Array([...encodeIdx(images), 1])
    expect(() => parseIdx(extra, 'i')).toThrow(/trailing bytes/)
  })
})

describe('CSV', () => {
  const text = 'sepal,petal,species\n1.0,2,setosa\n3,4e0,virginica\n\n5,-6.5,setosa\r\n7,"8",versicolor\n'

  it('maps sorted string labels to classes and parses numeric features', () => {
    const { dataset, classNames, featureNames, standardization } = parseCsv(text, { label: 'species' })
    expect(classNames).toEqual(['setosa', 'versicolor', 'virginica'])
    expect(featureNames).toEqual(['sepal', 'petal'])
    expect(Array.from(dataset.labels())).toEqual([0, 2, 0, 1])
    expect(dataset.featureShape).toEqual([2])
    expect(Array.from(dataset.example(2))).toEqual([5, -6.5])
    expect(standardization).toBeUndefined()
    expect(parseCsv('x,y\n1,10\n2,9\n3,2\n', { label: 'y' }).classNames).toEqual(['2', '9', '10'])
  })

  it('standardizes to zero mean and unit variance, and applies a given standardization', () => {
    const { dataset, standardization } = parseCsv(text, { label: 'species', standardize: true })
    const xs = [0, 1, 2, 3].map((i) => dataset.example(i))
    const mean = xs.reduce((a, x) => a + (x[0] as number), 0) / 4
    const variance = xs.reduce((a, x) => a + (x[0] as number) ** 2, 0) / 4
    expect(mean).toBeCloseTo(0, 6)
    expect(variance).toBeCloseTo(1, 5)
    const again = parseCsv('sepal,petal,species\n4,0,setosa\n', { label: 'species', standardize: standardization!, classNames: ['setosa'] })
    expect(again.dataset.example(0)[0]).toBeCloseTo(0, 6)
  })

  it('a ragged row names its line', () => {
    expect(() => parseCsv('a,b,y\n1,2,x\n3,x\n', { label: 'y', source: 'f.csv' })).toThrow(/^f\.csv:3: ragged row: expected 3 fields \(as in the header\), got 2$/)
  })

  it('a non-numeric value names its line and column', async () => {
    let err: unknown
    try {
      parseCsv('a,b,y\n1,2,x\n3,abc,x\n', { label: 'y', source: 'f.csv' })
    } catch (e) {
      err = e
    }
    expect(err).toMatchObject({ name: 'CsvFormatError', line: 3, column: 'b', message: 'f.csv:3 (column "b"): non-numeric value "abc": expected a number' })
    expect(() => parseCsv('a,y\n1,x\n', { label: 'label' })).toThrow(/no label column "label"/)
  })

  it('loadCsv reads a file and names it in errors', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'weft-csv-'))
    try {
      await writeFile(join(dir, 'd.csv'), 'a,y\n1,x\n2,\n')
      await expect(loadCsv(join(dir, 'd.csv'), { label: 'y' })).rejects.toThrow(/d\.csv:3 \(column "y"\): empty label/)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })
})
