// Zod compiles fast parsers with `new Function` when it may; the node serves the dashboard under a Content Security
// Policy without 'unsafe-eval', where even zod's probe for eval is a reported violation. Parse without it.
// Imported first by main.tsx, before any schema runs.
import { config } from 'zod'

config({ jitless: true })
