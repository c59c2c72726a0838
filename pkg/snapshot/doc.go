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
// ranged GET to one object version with If-Match on the manifest's ETag and
// writes each part at its offset in a temporary file, with a bounded number
// of parts in flight; an upload computes the full-object CRC64NVME itself
// and hands it to CompleteMultipartUpload (ChecksumType FULL_OBJECT) so the
// server checks the whole object, not only its parts. Both are a few dozen
// lines over service/s3 and keep the behaviour the bootstrap relies on in
// this package.
//
// The package imports neither the cache file nor the log store beyond the
// log identity's type: creating a snapshot (package snapshot/maker) and
// installing one (node-agent's SnapshotBootstrapper) live with their users.
package snapshot
