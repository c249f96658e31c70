// Jobs view: the federated-learning jobs this node knows, and a form to submit one.
import { useState } from 'preact/hooks'
import { ApiError, api } from './api'
import { formatAgo, formatPercent, shortId } from './format'
import { useLoader, useNow, useOnReconnect, useStream, useThrottled } from './hooks'
import { jobHref } from './route'
import type { JobStatus, JobSummary } from './types'
import { Badge, Card, ErrorNote, Loading } from './ui'

export function JobsPage() {
  const jobs = useLoader(api.jobs, [])
  const refetch = useThrottled(jobs.reload, 1000)
  useStream('job', refetch)
  useOnReconnect(refetch)
  const clientJobs = jobs.data?.client.length ?? 0
  return (
    <div class="page jobs-layout">
      <Card title="Jobs">
        <ErrorNote error={jobs.error} />
        {jobs.data ? <JobsTable jobs={jobs.data.jobs} /> : !jobs.error && <Loading what="jobs" />}
        {clientJobs > 0 && <p class="muted">This node also trains as a client in {clientJobs} job(s) coordinated elsewhere.</p>}
      </Card>
      <Card title="Submit a job">
        <SubmitForm />
      </Card>
    </div>
  )
}

const STATUS_TONES: Record<JobStatus, string> = { running: 'blue', finished: 'green', failed: 'red', cancelled: 'grey' }

export function StatusBadge({ status }: { status: JobStatus }) {
  return <Badge tone={STATUS_TONES[status] ?? 'grey'}>{status}</Badge>
}

export function Progress({ done, total }: { done: number; total: number }) {
  const share = total > 0 ? Math.min(1, done / total) : 0
  return (
    <span class="progress" title={`${done} of ${total} rounds`}>
      <span class="progress-bar">
        <span class="progress-fill" style={{ width: `${share * 100}%` }} />
      </span>
      <span class="progress-text">
        {done}/{total}
      </span>
    </span>
  )
}

function JobsTable({ jobs }: { jobs: readonly JobSummary[] }) {
  const now = useNow(5000)
  if (jobs.length === 0) return <p class="muted">No jobs yet: submit one with the form.</p>
  const newestFirst = [...jobs].sort((a, b) => b.createdAt - a.createdAt)
  return (
    <div class="table-scroll">
      <table class="table table-hover">
        <thead>
          <tr>
            <th>Job</th>
            <th>Status</th>
            <th>Progress</th>
            <th class="num">Accuracy</th>
            <th>Strategy</th>
            <th>Data set</th>
            <th>Coordinator</th>
            <th>Updated</th>
          </tr>
        </thead>
        <tbody>
          {newestFirst.map((job) => (
            <tr key={job.id} data-job={job.id} onClick={() => (location.hash = jobHref(job.id))}>
              <td>
                <a href={jobHref(job.id)}>{job.name}</a>
                <div class="mono small muted">{shortId(job.id)}</div>
              </td>
              <td>
                <StatusBadge status={job.status} />
              </td>
              <td>
                <Progress done={job.completedRounds} total={job.rounds} />
              </td>
              <td class="num">{formatPercent(job.latest?.accuracy)}</td>
              <td>{job.strategy}</td>
              <td>{job.dataset}</td>
              <td class="mono" title={job.coordinator}>
                {shortId(job.coordinator)}
              </td>
              <td title={new Date(job.updatedAt).toLocaleString()}>{formatAgo(job.updatedAt, now)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  )
}

// The demo fabric's data set names (`weft demo`): clients hold `fashion-mnist` shares, the coordinator the test set.
const EXAMPLE_SPEC = `name: fmnist-fedavg
model: { architecture: mlp, inputShape: [28, 28, 1], numClasses: 10 }
dataset: fashion-mnist
strategy: { name: fedavg }
rounds: 10
clients: { fraction: 1, min: 2 }
train: { epochs: 1, batchSize: 64, optimizer: { kind: sgd, lr: 0.03, momentum: 0.9 } }
evaluation: { centralized: { dataset: fashion-mnist-test } }
`

function SubmitForm() {
  const [spec, setSpec] = useState(EXAMPLE_SPEC)
  const [pending, setPending] = useState(false)
  const [error, setError] = useState<Error | undefined>(undefined)

  const submit = async (event: Event) => {
    event.preventDefault()
    setPending(true)
    setError(undefined)
    try {
      const { id } = await api.submitJob(spec)
      location.hash = jobHref(id)
    } catch (cause) {
      setError(cause instanceof Error ? cause : new Error(String(cause)))
      setPending(false)
    }
  }

  return (
    <form class="submit-form" onSubmit={submit}>
      <label for="job-spec">Job spec (YAML or JSON)</label>
      <textarea
        id="job-spec"
        data-testid="spec"
        rows={12}
        spellcheck={false}
        value={spec}
        onInput={(event) => setSpec(event.currentTarget.value)}
      />
      <div class="form-actions">
        <button type="submit" data-testid="submit-job" disabled={pending || spec.trim() === ''}>
          {pending ? 'Submitting…' : 'Submit job'}
        </button>
        <button type="button" class="button-secondary" onClick={() => setSpec(EXAMPLE_SPEC)}>
          Reset to example
        </button>
      </div>
      <SubmitError error={error} />
    </form>
  )
}

function SubmitError({ error }: { error: Error | undefined }) {
  if (!(error instanceof ApiError) || error.issues.length === 0) return <ErrorNote error={error} />
  return (
    <div class="error" role="alert">
      The spec is not valid:
      <ul>
        {error.issues.map((issue) => (
          <li key={`${issue.path}:${issue.message}`}>
            <code>{issue.path}</code>: {issue.message}
          </li>
        ))}
      </ul>
    </div>
  )
}
