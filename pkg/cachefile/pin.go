package cachefile

// A Pin holds one generation of a Reader's file for a series of lookups,
// such as those of one request. A lookup through a Reader takes and drops a
// reference on its generation (two atomic read-modify-write instructions,
// which also keep the processor from overlapping one lookup's cache misses
// with the next one's); a lookup through a Pin takes none, and does not
// check whether the file was replaced: the Pin took its reference once.
//
// A Pin reads the generation that was current when it was taken. Batches
// that the writer applies to that generation stay visible to it; a new
// generation (a compaction, a growth, a bootstrap) is not, and the old one
// stays mapped until the Pin is released. Hold a Pin briefly — a request,
// a batch of lookups — and always Release it. A Pin is not safe for
// concurrent use; take one per goroutine.
type Pin struct {
	g *readerGen
	s *refShard
}

// Pin returns a Pin on the Reader's current generation (following the file
// first if it was replaced), or ErrClosed after Close.
func (r *Reader) Pin() (p *Pin, err error) {
	var rd guardedRead
	defer rd.end(&err)
	rd.begin()
	if err = r.acquire(&rd); err != nil {
		return nil, err
	}
	p = &Pin{g: rd.g, s: rd.s}
	rd.g, rd.s = nil, nil // the Pin holds the reference now
	return p, nil
}

// Release drops the Pin's reference: the generation is unmapped if it was
// replaced and nothing else uses it. Lookups after Release fail with
// ErrClosed; Release is idempotent.
func (p *Pin) Release() {
	if p.g == nil {
		return
	}
	g, s := p.g, p.s
	p.g, p.s = nil, nil
	g.release(s)
}

// View calls fn with key's value, without copying it and without
// allocating, as Reader.View does; the value is valid until fn returns.
func (p *Pin) View(key []byte, fn func(value []byte)) (err error) {
	if p.g == nil {
		return ErrClosed
	}
	rd := guardedRead{g: p.g}
	defer rd.end(&err)
	rd.begin()
	v, err := p.g.m.lookup(key)
	if err != nil {
		return err
	}
	fn(v)
	return nil
}

// Get returns a copy of key's value, as Reader.Get does.
func (p *Pin) Get(key []byte) (value []byte, err error) {
	if p.g == nil {
		return nil, ErrClosed
	}
	rd := guardedRead{g: p.g}
	defer rd.end(&err)
	rd.begin()
	v, err := p.g.m.lookup(key)
	if err != nil {
		return nil, err
	}
	return append(make([]byte, 0, len(v)), v...), nil
}

// UpdateID returns the last update id fully applied to the pinned
// generation, or 0 after Release or when the read faults.
func (p *Pin) UpdateID() (id uint64) {
	if p.g == nil {
		return 0
	}
	rd := guardedRead{g: p.g}
	defer rd.end(nil)
	rd.begin()
	return p.g.m.load(offUpdateID)
}
