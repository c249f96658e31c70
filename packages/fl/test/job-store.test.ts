import { memoryJobStore } from '@weft/fl'
import { jobStoreLaws } from './job-store-compliance.js'

jobStoreLaws('memoryJobStore', { open: (init) => memoryJobStore(init) })
