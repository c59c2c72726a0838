// Package snapshot keeps snapshots of a cache file in an object store (S3 or
// any S3-compatible server, or a local directory) so that a node that joins,
// or whose file is missing, corrupt or behind the log's horizon, downloads
// the newest one and tails the log from its update id instead of replaying
// the whole log.
//
// # Layout
//
// Everything of one log lives under <prefix>/<log id>/ (the log id as a
// UUID). A snapshot is written in three steps, so that no reader ever sees a
// pointer to a partial object:
//
//  1. the object, <update id, 20 digits>-<random>.whycache: a sealed,
//     compact cache file, uploaded with a full-object CRC64NVME checksum
//     that the store checks;
//  2. its manifest, the same name with .json: a [Manifest] with the log
//     id, the cache-file format version, the update id, the size, the
//     SHA-256 of the file, the CRC64NVME, the object's ETag, the creation
//     time and the tool's version;
//  3. the pointer, "latest": the name of the newest manifest. It is written
//     with a conditional PUT (If-None-Match: * when absent, If-Match on the
//     ETag read) and only moves to a higher update id, so two snapshot runs
//     at once never move it backwards or lose each other's work (the
//     random part of the names keeps their objects apart).
//
// The pointer is a hint that saves a LIST. Readers trust only a manifest
// whose object exists with the manifest's size and checksum; after a
// download they check the SHA-256 and the cache file's structure before
// installing it, and fall back to the next older snapshot when any check
// fails. Retention ([Layout.Prune]) keeps the newest N, deletes only below
// the pointer's target, keeps any snapshot a caller pins, and never deletes
// the one the last safe history rewrite relied on: the rewrite names it in
// a small "rewrite-pin" object beside the pointer ([Layout.PinForRewrite])
// before it removes the first delete marker, and the next rewrite moves
// the pin to the newer snapshot it relies on.
//
// # Transfers
//
// Uploads and downloads use service/s3 directly, not the transfer package
// (feature/s3/transfermanager, still v0.x): a download here pins every
// ranged GET to one object version with If-Match on the manifest's ETag,
// writes each part at its offset in a temporary file, with a bounded number
// of parts in flight, feeds the bytes in order to the checks as they
// arrive, and resumes from the parts already in; an upload computes the full-object CRC64NVME itself
// and hands it to CompleteMultipartUpload (ChecksumType FULL_OBJECT) so the
// server checks the whole object, not only its parts. Both are a few dozen
// lines over service/s3 and keep the behaviour the bootstrap relies on in
// this package.
//
// Downloads fetch their parts in order (DefaultDownloadPartSize, a few in
// flight), so that the parts complete one after another and the in-order
// consumers (a SHA-256, or the caller's checks through DownloadOptions.Also)
// follow the download as each part grows, instead of starting when the
// last part is in. Writes and read-backs go through a buffer of a few
// hundred KiB (pwrite/pread, never a mapping of the file). Each consumer
// has a goroutine of its own that reads the bytes back from the file at
// its own pace, so that a bootstrap's SHA-256 and its walk of the records
// (cachefile.SealCheck's two parts) keep two cores busy instead of
// waiting for each other on every buffer; on a machine whose two cores
// the S3 server shares, this took a bootstrap of 100 MiB from 34-50% to
// 56-78% of the raw GET's speed. Reading a buffer back from the page cache costs
// little (5-10 ms of CPU per 100 MiB per consumer here): handing the
// fetched buffers to the consumers instead was measured and saved nothing
// measurable, for up to 32 MiB of buffers, so the file stays the only
// path. A download whose file is never made durable (NoWriteback: the
// maker's temporary base, a bootstrap with cachefile's NoSync) does not
// start each part's writeback, which costs the client about 20 ms of CPU
// per 100 MiB here.
//
// # Resuming a download
//
// With DownloadOptions.Resume an interrupted download (the process killed,
// the store unreachable) keeps its file and a progress record beside it:
// which parts are in, each one's CRC-32C, the object's ETag and the
// manifest's SHA-256, under a CRC-32C of its own. The next download of the
// same object version into the same file re-reads the parts listed, keeps
// those whose CRC-32C still matches and fetches the rest; another ETag or
// SHA-256, or a record that does not parse, starts over. A download that
// fails its checksum, or whose object changed or went away, removes both:
// nothing partial is ever handed to the caller as complete.
//
// # Which checks a bootstrap makes, and why not more
//
// A snapshot is a sealed cache file, which carries its own SHA-256 (over
// every byte but two header fields: the checksum itself, compared, and
// the superseded word, which a sealed file must hold as 0). Publish reads
// the file once, as it uploads it, for the manifest's SHA-256 and its
// XXH3-128 (the same bytes; XXH3-128 costs 3 ms of CPU per 100 MiB here,
// the SHA-256 65 ms). Before the download the agent compares the manifest
// with the stored object (ETag, size, the CRC64NVME S3 checked on
// upload), and every ranged GET is pinned to that ETag. As the bytes
// arrive it checks the manifest's XXH3-128 (ChecksumXXH3) and the file's
// structure (every record's CRC-32C, the index against the records, the
// header's CRC and counters; cachefile.SealCheck after SkipSum), and then
// the header against the manifest (log, update id, sealed).
//
// It does not recompute the file's SHA-256: the XXH3-128 says the bytes
// are the ones published, and those are the bytes Seal wrote, hashed by
// Publish from the sealed file. What the SHA-256 would add is a check of
// the sealed file between Seal and Publish's read of it, seconds apart on
// the machine that made it; even there a damaged record, index slot or
// counter fails the structure check, and only bytes that carry no data (a
// record's padding, the header page's unused bytes) would go unseen. The
// XXH3-128 is not a cryptographic hash, and need not be: the threat is
// damage, not forgery, for whoever can write the bucket can write the
// manifest too (the SHA-256 is no defence there either). Dropping the
// SHA-256 from the bootstrap took it from 56-78% of the raw GET's speed
// (median 68-70%) to the figures in the README. A manifest written before
// manifests had an XXH3-128 is checked as before: the file's own SHA-256
// and its structure (ChecksumNone with the SHA-256 in the check). The
// incremental snapshot run checks the XXH3-128 of the base it downloads
// too (the CRC64NVME for an older manifest); Writer.Replace then verifies
// the base completely, SHA-256 included. Downloads that ask for
// ChecksumSHA256 (the default) still compute it.
//
// The package imports neither the cache file nor the log store beyond the
// log identity's type: creating a snapshot (package snapshot/maker) and
// installing one (node-agent's SnapshotBootstrapper) live with their users.
package snapshot
