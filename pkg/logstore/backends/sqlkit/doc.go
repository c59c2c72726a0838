// Package sqlkit holds the parts that the SQL log stores (mysqlstore and
// pgstore) share and that do not depend on a database: group commit of
// concurrent appends, waking waiting tailers, assembling pages of whole
// updates from rows, and planning a history rewrite from an ordered scan.
//
// Everything here is pure Go with no SQL, so it is tested without a server.
package sqlkit
