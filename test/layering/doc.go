// Package layering holds a test of the project's import layering: the
// data path never depends on the operator, and the operator never depends
// on the node agent or the cache file's implementation.
package layering
