package cachefile

import (
	"runtime"
	"runtime/debug"
	"unsafe"
)

// Fault safety. A mapping has a fixed length, but the file under it does
// not: when someone shrinks the file (truncate(1), or cp(1) of a smaller
// file over it, which truncates it first), every access to a page past the
// new end raises SIGBUS, which kills a Go program. Bounds checks cannot
// prevent it: the bytes are gone, not out of bounds.
//
// So every Reader and Pin method that touches a mapping runs as a guarded
// read: it sets runtime/debug.SetPanicOnFault on its goroutine, which turns
// a fault into a run-time panic, and a deferred call turns a panic whose
// fault address lies in the mapping into an error wrapping ErrCorrupt, and
// restores the goroutine's previous setting. Other panics, and faults
// elsewhere (in a View callback's own memory, say), go on as they were.
// The cost is two calls into the runtime and one deferred call per method
// call (see BenchmarkRefCount and BenchmarkGet's -unguarded peers).
//
// A generation that faulted is marked, and the next read of the Reader
// tries to reopen the path, which recovers once a writer has put a whole
// file there again.

// guardedRead is the state of one guarded read: the generation it reads
// and the reference shard it holds (set by acquire; a Pin's read sets only
// the generation), and the goroutine's previous SetPanicOnFault setting.
type guardedRead struct {
	g        *readerGen
	s        *refShard
	oldFault bool
}

// begin starts a guarded read. The caller must defer end right before
// calling it: end calls recover, which works only in a deferred call.
func (rd *guardedRead) begin() { rd.oldFault = debug.SetPanicOnFault(true) }

// end finishes a guarded read: it restores the goroutine's fault setting,
// releases the generation, and turns a fault in the generation's mapping
// into *err. It must be called by defer.
func (rd *guardedRead) end(err *error) {
	debug.SetPanicOnFault(rd.oldFault)
	if p := recover(); p != nil {
		fe := faultError(p, rd.g)
		if fe == nil {
			rd.release()
			panic(p)
		}
		rd.g.faulted.Store(true)
		if err != nil {
			*err = fe
		}
	}
	rd.release()
}

// release drops the reference that acquire took, if any. A read through a
// Pin has the Pin's generation and no reference of its own.
func (rd *guardedRead) release() {
	if rd.s != nil {
		rd.g.release(rd.s)
		rd.g, rd.s = nil, nil
	}
}

// faultAddr is implemented by the run-time error of a memory fault.
type faultAddr interface {
	runtime.Error
	Addr() uintptr
}

// faultError returns the error for a recovered panic p when it is a memory
// fault inside g's mapping, and nil otherwise.
func faultError(p any, g *readerGen) error {
	fa, ok := p.(faultAddr)
	if !ok || g == nil {
		return nil
	}
	return g.m.faultError(fa.Addr())
}

// faultError returns the error for a memory fault at addr when addr lies in
// m, and nil otherwise.
func (m *mapping) faultError(addr uintptr) error {
	if len(m.mm) == 0 {
		return nil
	}
	base := uintptr(unsafe.Pointer(unsafe.SliceData(m.mm)))
	if addr < base || addr-base >= uintptr(len(m.mm)) {
		return nil
	}
	return corruptf("memory fault at offset %d of the %d-byte mapping: the file was truncated or overwritten in place after it was opened", addr-base, len(m.mm))
}
