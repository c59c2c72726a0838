package relaystore

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/relay"
)

// BenchmarkFanout measures a write's trip to many tailers through one
// relay in front of a directory store: each op appends one update and
// waits until every tailer (a handle of its own, looping like the agent:
// wait, then read from the update before its tip until nothing is new)
// has read it. It compares streams with long polls (stream=false), the
// peer, in the same run; the ratio is the long polls' time over the
// streams'.
func BenchmarkFanout(b *testing.B) {
	const tailers = 200
	var results sync.Map
	for _, mode := range []struct{ name, query string }{{"stream", ""}, {"poll", "?stream=false"}} {
		b.Run(fmt.Sprintf("%s/tailers=%d", mode.name, tailers), func(b *testing.B) {
			r := startRelay(b, dirBacking(b), relay.Config{})
			url := relayURL(r) + mode.query
			w := openAt(b, url, 0, logstore.Options{Name: "log", Create: true})
			ctx, cancel := context.WithCancel(b.Context())
			var wg sync.WaitGroup
			defer func() { cancel(); wg.Wait() }()
			tips := make([]atomic.Uint64, tailers)
			changed := make(chan struct{}, 1)
			for i := range tailers {
				c := openAt(b, url, 0, logstore.Options{Name: "log"})
				wg.Go(func() { tailLoop(ctx, c, &tips[i], changed) })
			}
			b.ResetTimer()
			start := time.Now()
			for b.Loop() {
				id, err := w.Append(ctx, []logstore.Op{logstore.Set([]byte("k"), []byte("v"))})
				if err != nil {
					b.Fatal(err)
				}
				for !allAt(tips, id) {
					select {
					case <-changed:
					case <-time.After(time.Second):
					}
				}
			}
			results.Store(mode.name, time.Since(start)/time.Duration(max(b.N, 1)))
		})
	}
	s, ok1 := results.Load("stream")
	p, ok2 := results.Load("poll")
	if ok1 && ok2 {
		b.Logf("a write read by %d tailers: streams %v, long polls %v: %.2f× faster with streams", tailers, s, p, float64(p.(time.Duration))/float64(s.(time.Duration)))
	}
}

// tailLoop tails like the agent until ctx ends, publishing its tip.
func tailLoop(ctx context.Context, c logstore.Store, tip *atomic.Uint64, changed chan<- struct{}) {
	for ctx.Err() == nil {
		at := tip.Load()
		if _, err := c.Wait(ctx, at); err != nil {
			continue
		}
		for ctx.Err() == nil {
			ups, err := c.Read(ctx, at-min(at, 1), 0)
			if err != nil || len(ups) == 0 || at > 0 && len(ups) == 1 {
				break
			}
			at = ups[len(ups)-1].ID
			tip.Store(at)
			select {
			case changed <- struct{}{}:
			default:
			}
		}
	}
}

func allAt(tips []atomic.Uint64, id uint64) bool {
	for i := range tips {
		if tips[i].Load() < id {
			return false
		}
	}
	return true
}
