"""Batch reads and writes: BatchGetItem and BatchWriteItem in concurrent chunks, nothing lost.

Every batch call marshals and validates all of its requests before the first one is sent
(a bad item raises before any write), splits them into chunks (25 writes or 100 keys, and
16 MB), and runs the chunks on at most ``max_concurrency`` workers (``_fanout``); each
DynamoDB call takes the Session's one limiter itself (``ExecutionContext.call``), so no worker
holds a token while it waits, and a batch may run inside any other fan-out. A chunk re-sends
only what DynamoDB left unprocessed, and re-sends a whole call that was throttled, failed with
a 5xx or lost its connection, after a full-jitter backoff drawn from ``Session.batch_retry``
(one budget of attempts and time per chunk). What is still unprocessed when a chunk's budget
runs out is reported, never dropped: ``BatchWriteError.unprocessed`` /
``BatchGetError.unprocessed`` hold exactly those items or keys.

Decisions, stated once here and in each entry point:

- **Versions.** BatchWriteItem takes no conditions, so a batch put cannot check a ``Version``:
  it is an unconditional overwrite (last writer wins). It still stamps ``CreatedAt`` (when
  unset) and ``UpdatedAt`` and bumps the version by one, so what is stored matches what a
  single ``put`` would store, and a later conditional ``put`` of the same instance works. The
  caller's instances get the new values once DynamoDB confirmed them (frozen models cannot be
  changed in place and keep their old values; re-read them). Batch deletes of instances do
  not check versions either.
- **Duplicate keys.** DynamoDB rejects a batch naming one key twice. ``batch_put`` raises
  ValidationError naming the key before sending anything (two different items for one key is
  almost always a bug); ``batch_delete`` sends each key once and reports the first object
  passed for it; ``batch_get`` reads each key once and returns its item once, at the key's
  first position; the batch writer lets the last write to a key win.
- **Failures.** A chunk whose call DynamoDB rejects outright (validation, missing table) is
  not retried: its requests join ``unprocessed`` with that error as the BatchWriteError's
  ``__cause__`` while the other chunks go on. After a lost connection a chunk's requests may
  have been applied; puts and deletes are idempotent, so re-sending them is safe.
- **Cancellation.** Cancelling a batch call cancels its chunk workers; none is left running.
  Pass a :class:`.progress.BatchProgress` as ``progress=`` to learn afterwards which requests
  DynamoDB confirmed (``progress.processed_items``); those in flight at the cancellation may
  or may not have been applied.

Modules, pure ones first: ``plan`` (wire requests, chunks, payloads, answers), ``requests``
(the caller's objects as requests, batch-read projections), ``retry`` (what to retry, when),
``progress`` (counters, result, error report); executors: ``chunks`` (one chunk's retry loop,
the write runner), ``run`` (batch_put, batch_delete, delete_keys), ``get`` (batch_get),
``writer`` (BatchWriter).
"""
