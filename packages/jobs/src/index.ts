// @weft/jobs: the job model, placement, verification of batch results and the contribution ledger.
