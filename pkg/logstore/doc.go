// Package logstore defines whycache's ground truth: a log of updates, each a
// list of key operations (set key→value, delete key) with a strictly
// increasing update id, kept in an external store.
//
// Every node agent tails the log and applies it to its cache file; writers
// append to it; maintenance jobs rewrite its history. This package holds the
// [Store] interface, the value types, the limits and the sentinel errors.
// The implementations live in sub-packages: dirstore (a local directory, the
// embedded default), mysqlstore (MySQL and MariaDB) and pgstore (PostgreSQL);
// storetest holds the conformance tests that every implementation passes.
//
// # Ordering
//
// Ids become visible in id order: once a reader can see update n, it can see
// every update below n that was ever acknowledged. A tailer that reads
// "after n" therefore never skips an update that commits late.
//
// # History rewrite and the horizon
//
// [Store.Rewrite] keeps, for each key, only its last operation at or below a
// limit id, at its original id. Delete markers are dropped only up to a
// second, safe limit that the caller chooses; the store's horizon rises to
// that limit. A reader whose state reflects the log through id n can catch up
// incrementally only when n == 0 (an empty state) or n >= horizon; otherwise
// [Store.Read] fails with [ErrBehindHorizon] and the reader must bootstrap
// from a snapshot. Full replay from 0 always gives the current state; read
// in pages, it stands below the horizon between pages, which
// [Store.ReadReplay] allows while the horizon does not move.
//
// This package must not import the cache file package: the two meet only in
// the node agent.
package logstore
