// A job owner's signed announcement: who owns the job, at which epoch, until when (its lease), and the spec as
// submitted. Gossiped on `weft/jobs/1` and stored in the DHT under `/weft-job/<job id>`, so any node can find a job's
// owner and take the job over when the lease lapses.
import { create, fromBinary, toBinary } from '@bufbuild/protobuf'
import { peerIdFromString } from '@libp2p/peer-id'
import { type JobAnnouncement, JobAnnouncementSchema, MAX_JOB_ANNOUNCEMENT_BYTES, SignedJobAnnouncementSchema } from '@weft/protocol'

/** Domain separation: an owner's signature over an announcement is never one over anything else. */
const ANNOUNCE_DOMAIN = new TextEncoder().encode('weft-job-announcement/v1')

/** Encodes and signs an announcement with its owner's key; returns the encoded SignedJobAnnouncement. */
export async function signAnnouncement(announcement: Parameters<typeof create<typeof JobAnnouncementSchema>>[1], sign: (bytes: Uint8Array) => Promise<Uint8Array>): Promise<Uint8Array> {
  const bytes = toBinary(JobAnnouncementSchema, create(JobAnnouncementSchema, announcement))
  const signature = await sign(concat(ANNOUNCE_DOMAIN, bytes))
  return toBinary(SignedJobAnnouncementSchema, create(SignedJobAnnouncementSchema, { announcement: bytes, signature }))
}

/** Checks an announcement's size, encoding and owner signature. */
export async function verifyAnnouncement(bytes: Uint8Array): Promise<{ ok: true; announcement: JobAnnouncement } | { ok: false; reason: string }> {
  if (bytes.length > MAX_JOB_ANNOUNCEMENT_BYTES) return { ok: false, reason: 'announcement too large' }
  try {
    const signed = fromBinary(SignedJobAnnouncementSchema, bytes)
    const announcement = fromBinary(JobAnnouncementSchema, signed.announcement)
    const key = peerIdFromString(announcement.owner).publicKey
    if (key === undefined) return { ok: false, reason: 'owner id embeds no key' }
    if (!(await key.verify(concat(ANNOUNCE_DOMAIN, signed.announcement), signed.signature))) return { ok: false, reason: 'bad owner signature' }
    return { ok: true, announcement }
  } catch (err) {
    return { ok: false, reason: `malformed announcement: ${(err as Error).message}` }
  }
}

function concat(a: Uint8Array, b: Uint8Array): Uint8Array {
  const out = new Uint8Array(a.length + b.length)
  out.set(a)
  out.set(b, a.length)
  return out
}
