// Package relay is whycache's fan-out tier: a stateless server that follows
// the logs of one log store and serves them to many node agents, so that
// the store sees a few relays instead of every node. Agents reach it through
// the store URL relay://host:port[,host2:port...] (package
// logstore/relaystore), behind the same logstore.Store interface as the
// stores themselves; the protocol is package logstore/relaywire.
//
// For each log it serves, a relay holds one store handle and runs one wait
// on the store (the tail loop). Every id the tail loop learns is one
// broadcast: the waits of all clients (long polls, held by the HTTP
// handler's own goroutine, with no other goroutine or connection per
// waiter) end together. Reads go through a cache of recent pages, bounded
// in bytes: clients that read the same page (the same position and size)
// share one store read, whether they ask at once (the later ones wait for
// the first read) or one after the other (the page is kept). At most
// Config.MaxStoreReads page reads of a log run on the store at once, which
// bounds the database connections a relay takes whatever its clients do. A kept page
// answers a client only if it reflects the log at least as far as the
// client knows it (the relay's latest id, and the id the client reports);
// a page cut short by its size is final. The horizon is checked before the
// cache, with the stores' rule; it is read from the store every second,
// and after every rewrite that passes through the relay, which also empties
// the cache.
//
// Heartbeats are gathered for a short linger and written together, each
// node once per batch, in one statement when the store implements
// logstore.HeartbeatBatcher (MariaDB and PostgreSQL do); each caller returns
// once its heartbeat is written.
// Latest and Horizon go to the store, one call for all clients that ask at
// once; Nodes goes to the store.
//
// # Metrics
//
// The handler serves Prometheus metrics at /metrics (no token needed, as
// /healthz and /readyz): calls by call and status class, waits by
// outcome, page reads by where they were answered from, the calls to the
// store and its failures, heartbeats and their batches, and each log's
// latest id. They are counted at the edges (the HTTP handler, a counting
// wrapper of the store) or read from the relay's own counters when
// scraped, so that the serving paths carry no more than a hook or two.
//
// # Writes
//
// Appends and rewrites are forwarded to the store unchanged, and their
// answers returned unchanged. The relay does not refuse them: ids,
// durability and ordering are decided by the store alone, so a write
// through a relay is exactly as safe as a write to the store, and forwarding
// lets a node (its agent's write socket) write with no database credentials
// and no database connection of its own, which is the point of the tier. An
// append whose relay dies after the request was sent fails with an error,
// as a store's does when its connection is lost: the update is then whole in
// the log or absent, and the client does not send it again by itself, so
// that nothing is written twice. A relay that is shutting down (Drain)
// refuses new calls as unavailable before doing anything, and those the
// client may send to another relay.
package relay
