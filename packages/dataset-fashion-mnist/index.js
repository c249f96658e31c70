// Where this package keeps Fashion-MNIST's four IDX files, with each file's size and SHA-256 (of the .gz bytes as
// shipped, and of the decompressed IDX content). @weft/data's loader finds the package and checks both on load.
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The folder holding the four .gz files. */
export const dir = join(dirname(fileURLToPath(import.meta.url)), 'data')

/** The files, by name: `size` and `sha256` of the .gz file shipped here, `contentSha256` of its IDX content. */
export const files = Object.freeze({
  'train-images-idx3-ubyte.gz': Object.freeze({
    size: 26421856,
    sha256: 'b0564c3eedabfbf835052cff8503ea422014ce006caf5b757f851416ee8300c7',
    contentSha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
  }),
  'train-labels-idx1-ubyte.gz': Object.freeze({
    size: 29491,
    sha256: '0ae29f65d86684f32d1b9c85147786c547b9c6aebcaf235f0400a0cce308b056',
    contentSha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
  }),
  't10k-images-idx3-ubyte.gz': Object.freeze({
    size: 4422079,
    sha256: 'cc1d090a38ace84dfa1aa66e3ada7c336ef481a96936906477e6dd344da56eaa',
    contentSha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
  }),
  't10k-labels-idx1-ubyte.gz': Object.freeze({
    size: 5125,
    sha256: '8d3605d196f4be44669e46906da9733c8131fef761fdbfec72c424d5222f1a05',
    contentSha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
  }),
})
