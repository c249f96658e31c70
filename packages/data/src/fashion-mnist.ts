// Fashion-MNIST metadata: class names, canonical file names, sizes and SHA-256 digests (browser-safe; loaders are in ./node).

/** The ten Fashion-MNIST classes, by label index. */
export const FASHION_MNIST_CLASSES = Object.freeze([
  'T-shirt/top',
  'Trouser',
  'Pullover',
  'Dress',
  'Coat',
  'Sandal',
  'Shirt',
  'Sneaker',
  'Bag',
  'Ankle boot',
] as const)

/** Where the canonical files are hosted (Zalando Research's S3 website bucket; plain HTTP, hence the digests). */
export const FASHION_MNIST_BASE_URL = 'http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/'

/** One canonical file: its name, the .gz size and SHA-256, and the size and SHA-256 of its decompressed IDX content. */
export interface DatasetFile {
  readonly file: string
  readonly size: number
  readonly sha256: string
  /** Of the decompressed IDX bytes: identifies the content whatever gzip header a copy was given. */
  readonly contentSize: number
  readonly contentSha256: string
}

export type FashionMnistSplit = 'train' | 'test'

/** The files of each split. */
export type FashionMnistFiles = Readonly<Record<FashionMnistSplit, { readonly images: DatasetFile; readonly labels: DatasetFile }>>

/**
 * The canonical files. The .gz digests match those published with the data set (MD5s in its README, SHA-256 as
 * used by common loaders); Debian's `dataset-fashion-mnist` ships the same deflate streams with a rewritten gzip
 * header (no file name, another mtime), so its .gz files differ but their content digests match.
 */
export const FASHION_MNIST_FILES: FashionMnistFiles = Object.freeze({
  train: Object.freeze({
    images: Object.freeze({
      file: 'train-images-idx3-ubyte.gz',
      size: 26421880,
      sha256: '3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84',
      contentSize: 47040016,
      contentSha256: 'c59f468a2f672dc815687fe0f83887768d799fd8a3f3276145d20f83aa44d888',
    }),
    labels: Object.freeze({
      file: 'train-labels-idx1-ubyte.gz',
      size: 29515,
      sha256: 'a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845',
      contentSize: 60008,
      contentSha256: 'bad3541b69d912435c50bb6ba87bec294ff4f6a2e1246121d8633921760443d9',
    }),
  }),
  test: Object.freeze({
    images: Object.freeze({
      file: 't10k-images-idx3-ubyte.gz',
      size: 4422102,
      sha256: '346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073',
      contentSize: 7840016,
      contentSha256: '5b4141f0afbad91edebe8549f8fcffe087ea10ca49f1dbef5c9a5cd8815ce37b',
    }),
    labels: Object.freeze({
      file: 't10k-labels-idx1-ubyte.gz',
      size: 5148,
      sha256: '67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5',
      contentSize: 10008,
      contentSha256: '0402a96d92fd2663957122ceb108a494c5af83dab82d92729df917d7dec38c34',
    }),
  }),
})

/**
 * The root CID of Fashion-MNIST on the mesh: a UnixFS directory of the four .gz files of `@weft/dataset-fashion-mnist`
 * (as that package ships them), built with Weft's default layout (`@weft/store`'s `UNIXFS_V1_2025`). `weft data
 * publish fashion-mnist` puts that directory in a node's store; nodes without the files ask the mesh for this CID.
 * A test rebuilds it from the package.
 */
export const FASHION_MNIST_CID = 'bafybeifzlejx5vd7fqlutu7qfwtfiplmdct6id6zotifgfyeeylac62jqm'
