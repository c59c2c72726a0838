package relaystore

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
	"github.com/whycache/whycache/pkg/relay"
)

// tailRound is one round of an agent's loop on a tailer standing at tip:
// wait for a newer id, then read from the update before the tip (the
// agent's check that the log still holds it) until a page brings nothing
// new. It returns the new tip.
func tailRound(ctx context.Context, t *testing.T, c logstore.Store, tip uint64) uint64 {
	t.Helper()
	if _, err := c.Wait(ctx, tip); err != nil {
		t.Fatalf("wait after %d: %v", tip, err)
	}
	for {
		ups, err := c.Read(ctx, tip-min(tip, 1), 0)
		if err != nil {
			t.Fatalf("read after %d: %v", tip-min(tip, 1), err)
		}
		if tip > 0 {
			if len(ups) == 0 || ups[0].ID != tip {
				t.Fatalf("the page after %d does not start with the tip %d: %+v", tip-1, tip, ups)
			}
			ups = ups[1:]
		}
		if len(ups) == 0 {
			return tip
		}
		for i, u := range ups {
			if want := tip + 1 + uint64(i); u.ID != want {
				t.Fatalf("update %d where %d was due", u.ID, want)
			}
		}
		tip = ups[len(ups)-1].ID
	}
}

// TestStreamServesReads tails a log the way the agent does: once the
// stream runs, the waits and reads of every further write are answered
// from what it brings, with no call to the relay; and a relay that does
// not know the stream call (an older one) is polled instead.
func TestStreamServesReads(t *testing.T) {
	tests := []struct {
		name      string
		noStream  bool
		wantCalls func(rounds int) (streams, others int64)
	}{
		{"stream", false, func(int) (int64, int64) { return 0, 0 }},
		// A wait and two reads a write, and no second try of the stream
		// for minutes.
		{"older relay", true, func(rounds int) (int64, int64) { return 0, 3 * int64(rounds) }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startRelay(t, dirBacking(t), relay.Config{})
			r.noStream.Store(tc.noStream)
			w := openAt(t, relayURL(r), 0, logstore.Options{Name: "log", Create: true})
			c := openAt(t, relayURL(r), 0, logstore.Options{Name: "log"})
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			write := func(i int) {
				t.Helper()
				if _, err := w.Append(ctx, []logstore.Op{logstore.Set(fmt.Appendf(nil, "k%d", i), []byte("v"))}); err != nil {
					t.Fatal(err)
				}
			}
			// The first round opens the stream.
			write(0)
			tip := tailRound(ctx, t, c, 0)
			write(1)
			tip = tailRound(ctx, t, c, tip)
			calls := func() (streams, others int64) {
				return r.count(relaywire.CallStream), r.count(relaywire.CallRead) + r.count(relaywire.CallWait)
			}
			streams0, others0 := calls()
			const rounds = 50
			for i := range rounds {
				write(2 + i)
				tip = tailRound(ctx, t, c, tip)
			}
			if tip != rounds+2 {
				t.Fatalf("the tailer stands at %d after %d writes", tip, rounds+2)
			}
			streams, others := calls()
			wantStreams, wantOthers := tc.wantCalls(rounds)
			if streams-streams0 != wantStreams || others-others0 != wantOthers {
				t.Errorf("%d rounds cost %d stream calls and %d reads and waits, want %d and %d",
					rounds, streams-streams0, others-others0, wantStreams, wantOthers)
			}
		})
	}
}
