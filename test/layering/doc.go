// Package layering holds a test of the project's import layering: the
// data path never depends on the operator, and the operator never depends
// on the node agent or the cache file's implementation. The relay server
// (pkg/relay) is data path too: it depends on neither the operator, the
// agent nor the cache file, and the log stores (its client relaystore
// included, which shares only the protocol package relaywire with it)
// never depend on it.
package layering
