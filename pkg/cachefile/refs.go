package cachefile

import (
	"sync/atomic"
	"unsafe"
)

// refShards is the number of reference-count shards per generation. A
// lookup touches one shard, picked from its goroutine's stack address, so
// goroutines on different cores rarely write the same cache line.
const refShards = 64

// refShard is one counter, padded to two cache lines (adjacent-line
// prefetchers pair lines).
type refShard struct {
	n atomic.Int64
	_ [120]byte
}

// refs counts the lookups in flight in one generation of a Reader's file,
// so that the generation is unmapped only once none can touch it.
//
// Protocol (all operations are sequentially consistent Go atomics):
//
//	lookup:  g := cur.Load(); shard.Add(1); if cur.Load() != g { release; retry }
//	         ... read the mapping ...; shard.Add(-1); if retired { tryFree }
//	retire:  cur.Store(next); retired.Store(true); tryFree
//	tryFree: if every shard reads 0 and freed.CompareAndSwap(false, true) { unmap }
//
// Safety: suppose tryFree unmaps after reading shard s as 0, while lookup L
// is between its second cur.Load and its Add(-1). L's Add(+1) precedes its
// second cur.Load, which returned g, so it precedes cur.Store(next), which
// precedes retired.Store(true), which precedes the shard reads of any
// tryFree that can see retired... and so precedes the read of shard s, which
// would then have seen L's +1, not 0. The only +1s a tryFree can miss belong
// to lookups whose second cur.Load comes after cur.Store(next): they see a
// different generation and back off without reading the mapping. Liveness:
// the last lookup to release, or the retirer if none is in flight, runs
// tryFree after retired is set and after every Add(-1), and sees all zeros.
type refs struct {
	_       [128]byte // keeps shard 0 off the line of the fields before refs
	shards  [refShards]refShard
	retired atomic.Bool
	freed   atomic.Bool
}

// shardFor picks a shard from the address of a local variable: goroutine
// stacks are at least 2 KiB each, so hashing the address's 2 KiB block
// spreads goroutines over the shards. Which shard is picked does not matter
// for correctness; the caller releases the one it acquired.
func (r *refs) shardFor() *refShard {
	var x byte
	p := uint64(uintptr(unsafe.Pointer(&x))) >> 11
	return &r.shards[(p*0x9e3779b97f4a7c15)>>(64-6)%refShards]
}

// idle reports whether every shard reads zero.
func (r *refs) idle() bool {
	for i := range r.shards {
		if r.shards[i].n.Load() != 0 {
			return false
		}
	}
	return true
}
