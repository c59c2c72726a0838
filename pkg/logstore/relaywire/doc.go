// Package relaywire is the protocol between a whycache relay (package
// relay, `whycache relay`) and its clients (package relaystore, store URL
// relay://host:port): the paths, the query parameters, the error codes and
// the binary encoding of pages and updates. Both sides import it, so that
// they cannot drift apart.
//
// Every call is an HTTP request (HTTP/2 over TLS or cleartext h2c, or
// HTTP/1.1) to /v1/logs/{name}/{call}, carrying "Authorization: Bearer
// TOKEN" when the relay has a token:
//
//	POST open?create=1         → Open       (JSON) id and limits of the log
//	GET  read?after=&max=&known=            → Page (binary)
//	GET  replay?after=&max=&horizon=&known= → Page (binary)
//	GET  latest, GET horizon                → Number (JSON)
//	GET  wait?after=&timeout_ms=            → Number (JSON): the latest id, which is not above
//	                                          after when the relay's wait timed out first
//	GET  stream?after=&max=                 → frames (binary), until either side ends it: the
//	                                          pages after after as the log grows (CallStream)
//	POST append (body: Ops, binary)         → Number (JSON): the update's id
//	POST rewrite (JSON Rewrite)             → RewriteStats (JSON)
//	POST heartbeat (JSON Heartbeat)         → Number (JSON, zero)
//	GET  nodes                              → []Node (JSON)
//
// Every answer about a log carries the log's identity in the
// Whycache-Log-Id header, so that a client that fails over to a relay in
// front of another log notices. A failure is a non-2xx status with a JSON
// [Error] whose code maps back to the sentinel errors of package logstore
// ([FromError], [ToError]).
//
// # Binary encoding
//
// Unsigned integers are unsigned LEB128 varints (encoding/binary's
// Uvarint), times are zig-zag varints of Unix nanoseconds. A page is the
// byte 'P', the version 1, the number of updates, and each update: its id,
// its time, its number of operations and each operation. An append body is
// the byte 'O', the version 1, the number of operations and each operation.
// An operation is its type byte, the key's length and bytes, then the
// value's length plus one and its bytes (0 for no value: a delete). The
// decoders accept nothing else: no trailing bytes, no count larger than the
// bytes that follow could hold.
//
// A stream's body is a sequence of frames: a kind byte ('p' page, 't' tick,
// 'e' error), the relay's latest id and the body's length as varints, and
// the body (a page, nothing, or an Error as JSON).
package relaywire
