// Package relaystore is the client of whycache relays (package relay,
// `whycache relay`): a logstore.Store whose calls go to the relays that a
// store URL names,
//
//	relay://host:port[,host2:port...][?token-file=PATH&tls=true&ca-file=PATH]
//
// instead of to the database. It speaks HTTP/2 (cleartext h2c, or over TLS
// with tls=true, trusting the system's authorities or those in ca-file),
// one connection per relay in use, and sends the bearer token read from
// token-file (the file, not the URL, holds the secret).
//
// # Several relays
//
// A handle uses one relay at a time, starting with one chosen at random so
// that a fleet spreads over them. When a relay cannot be reached, its
// connection breaks, or it answers that it is unavailable (shutting down,
// or holding as many waits as it may), the call goes to the next relay in
// the list, and the handle stays there. Reads, waits, heartbeats and the
// other calls that change nothing (or the same thing twice) are sent again
// there; a caller following the log resumes after its last id as always,
// so nothing is skipped. An append is sent again only when it cannot have
// reached the first relay (a failed dial, or a refusal); when a connection
// breaks after it left, Append fails saying so, and the update is whole in
// the log or absent (as when a store's own connection is lost), never
// written twice. Every answer carries the identity of its log, checked
// against the handle's: a relay in front of another log fails the call
// with logstore.ErrIdentityMismatch.
//
// A read carries the highest id the handle has seen (from Wait, Latest,
// Append or a page), so that a relay which has not yet seen that far (after
// a move to another relay) reads it from the store rather than answering
// from its cache.
//
// Errors match the sentinels of package logstore, and those of package
// relaywire: ErrUnauthorized (a wrong token), ErrUnavailable (no relay could
// take the call), ErrMalformed (an answer that does not decode).
package relaystore
