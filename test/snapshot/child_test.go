package snapshot_test

// childMain runs the test binary as a helper process when asked to (the
// kill -9 test); it reports whether it did.
func childMain() bool { return false }
