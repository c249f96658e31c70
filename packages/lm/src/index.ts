// @weft/lm: language-model groundwork that runs anywhere (no Node modules): the byte-level BPE tokenizer trained by
// Weft, its Hugging Face tokenizer.json form, and the seeded train/validation split of a verse-per-line corpus.
export { BYTE_TO_CHAR, PRE_TOKENIZE_PATTERN, preTokenize } from './byte-level.js'
export { type BpeTrainInit, trainBpe } from './bpe-train.js'
export { type BpeModel, type BpeTokenizer, createBpeTokenizer, END_OF_TEXT, MAX_VOCAB_SIZE } from './bpe-tokenizer.js'
export { type CorpusSplit, parseVerses, type SplitInit, splitVerses, type Verse } from './corpus.js'
export { CorpusFormatError, TokenizerJsonError, UnknownTokenIdError } from './errors.js'
export { fromTokenizerJson, toTokenizerJson } from './tokenizer-json.js'
export { decodeLmCheckpoint, encodeLmCheckpoint, LM_CHECKPOINT_FORMAT, type LmCheckpoint, LmCheckpointError } from './checkpoint.js'
export { evenWindows, type LmEvaluation, type LmTrainCallbacks, type LmTrainInit, learningRateAt, meanWindowLoss, randomWindows, trainLanguageModel } from './train-loop.js'
