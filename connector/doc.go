// Package connector runs zohosink's syncs: it consumes Debezium change
// events from Kafka, decodes them (package schema), maps them to Zoho
// records per mode, batches them, writes them (package zoho), and commits
// each record's offset once it is done. Its configuration is package
// connector/config, its dead-letter format package connector/dlq.
//
// # One record, from fetch to commit
//
// Read these in order; each names the next.
//
//  1. Consume. group.go, Runner.poll: PollRecords hands a fetch's records
//     to the partition they came from (Runner.partition). Each record is
//     tracked in the partition's checkpoint (checkpoint.go, checkpoint.track)
//     and pushed, as an inRecord, onto the input queue of the sync that owns
//     its topic (sync.go, recordQueue). partition.backpressure pauses a
//     partition whose checkpoint holds too many unfinished records.
//  2. Decode. sync.go, syncWorker.run takes the queued records in its loop
//     and calls syncWorker.handle for each; handle calls syncWorker.decode
//     (schema.Decoder.DecodeReusing, into the rows of the last change,
//     keeping only the columns the sync maps: schema.Scratch.Project),
//     which retries while the schema registry is out of reach. A record
//     that cannot be decoded is dead-lettered (step 7).
//  3. Map. mapper.go: actionFor applies the mode table to the change's op
//     (a skip is done at once: syncWorker.skip marks the checkpoint);
//     mapper.mapRow turns the row into a zoho.Record (values formatted by
//     format.go, formatValue), and matchValues reads its match_on values.
//     An update whose mapped fields did not change is skipped as
//     "unchanged". A row that cannot be mapped is dead-lettered.
//  4. Batch. batch.go: handle adds an entry to the sync's batcher, which
//     collapses a key's waiting change of the same action into the newer
//     one; the replaced record keeps only its place (places; partition.
//     rehold frees its memory in the back-pressure count). syncWorker.
//     flush tells the batcher whether the sync is behind (syncWorker.behind:
//     records of its partitions still to read) and whether memory is tight
//     (Runner.tight), and asks batcher.next for the batches due: behind and
//     not tight, only changes that waited maxDefer (backlog compaction);
//     behind, with keys that recur and memory past half its bound, the
//     waiting entries drop their mapped records (syncWorker.slim) and are
//     mapped again when written (syncWorker.remap), so that a backlog of
//     many keys is held to the end rather than written change by change;
//     else full or lingered ones; in arrival order, never two changes of one
//     key or match value at once, and at most maxInflight in flight.
//  5. Write. sync.go, syncWorker.launch runs write.go's syncWorker.write in
//     a goroutine: lookups by name (resolveLookups), ids by match_on for
//     update and remove (resolveIDs, COQL), the call itself (call), tags
//     (tag). Retryable trouble is retried for as long as it lasts; each
//     record gets an outcome: written, skipped, dead-lettered, or
//     abandoned (shutdown or revoke: not done, consumed again later).
//  6. Complete. The result comes back to the loop on syncWorker.results;
//     syncWorker.complete releases the batch in the batcher (batcher.done),
//     updates the id and fingerprint caches and the metrics, and marks each
//     record done in its partition (partition.done), together with the
//     records collapsed into it (partition.doneCollapsed).
//  7. Dead letter. deadletter.go, syncWorker.deadLetter produces the record
//     with its reason (dlq.New) and marks it done only once Kafka
//     acknowledged it. noteGuard stops the runner when nearly every recent
//     record of a sync was dead-lettered.
//  8. Commit. group.go, Runner.commitLoop commits, every commit_interval,
//     each partition's checkpoint.Released offset: the highest offset
//     below which every record is done. Runner.onRevoked commits a revoked
//     partition's released offset after its writes finished (or a bounded
//     wait), and Runner.drain makes the last commit on shutdown.
//
// Around the path: fieldsmeta.go reads the Zoho fields metadata (value
// formats, refusing unknown fields) and reads it again later when Zoho was
// out of reach; status.go serves /metrics, /healthz, /readyz and /status
// and logs progress; kafka.go builds the Kafka client's options and watches
// for missing topics; replay.go is dlq replay's routing of dead letters
// back to their syncs; online.go is validate --online's checks; wiring.go
// builds the Zoho client and decoders from a config.
//
// # Delivery
//
// A record's offset is committed only once the record is done: written to
// Zoho, skipped by the mode table, or written to the dead-letter topic and
// acknowledged. Checkpoints release only the contiguous done prefix of a
// partition, so a record done out of order waits for those before it. A
// crash at any moment loses nothing: the records after the last commit are
// consumed and written again, which upsert makes harmless (insert mode may
// create a record twice; see the README). Runner's doc comment says how
// rebalances keep this. docs/design.md has the guarantees in full.
//
// # Goroutines and who owns what
//
//   - Runner.Run's goroutine polls (Runner.poll) and, at the end, drains.
//     franz-go calls onAssigned, onRevoked and onLost on it too (polls and
//     rebalances never interleave: BlockRebalanceOnPoll).
//   - One loop per sync (syncWorker.run) owns that sync's batcher, caches
//     and guard; nothing else touches them. It talks to the others through
//     channels: input (records), results (finished writes), revokes,
//     drainCh, typesCh (fields metadata read late).
//   - One goroutine per batch in flight runs syncWorker.write; it reads the
//     batch and writes only its outcomes, handed back on results.
//   - Runner.commitLoop, logProgress, rereadFieldTypes, watchTopics and
//     ensureDLQTopic run beside them; the HTTP server answers from Status.
//   - A partition's checkpoint is shared: the loop marks records done, the
//     poll loop tracks new ones and the commit loop reads the released
//     offset, under the checkpoint's lock.
//
// # Cancellation: which context ends what
//
//   - ctx, given to Run: its end starts the shutdown.
//   - runCtx (Run): ends with ctx or Runner.fail. Poll, commitLoop and the
//     background goroutines stop with it; then the drain starts.
//   - stopWaiting (closed when the drain starts, zoho.WithStopWaiting):
//     writes and decodes waiting out an outage (a backoff, a token, a
//     concurrency slot, the registry) give up at once; requests already
//     sent finish.
//   - loopCtx (the syncs' loops): ended when the drain is over, at the
//     drain timeout, or at once after a fatal error.
//   - writeCtx (the writes): outlives runCtx by the drain timeout, so
//     writes in flight can finish; abandoned at the timeout or after a
//     fatal error. What was abandoned is not done, so not committed.
//   - partition.ctx: ended when the partition is revoked (after the wait)
//     or lost; a write holding any of its records stops, because the
//     partition's next owner writes those changes and a late write of ours
//     must not land after theirs.
package connector
