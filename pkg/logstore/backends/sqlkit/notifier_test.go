package sqlkit

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestNotifierWait(t *testing.T) {
	n := NewNotifier()
	var store atomic.Uint64
	refresh := func(context.Context) (uint64, error) { return store.Load(), nil }
	done := make(chan uint64)
	go func() {
		id, err := n.Wait(t.Context(), 5, refresh, Fixed(time.Hour))
		if err != nil {
			t.Error(err)
		}
		done <- id
	}()
	time.Sleep(10 * time.Millisecond)
	n.Publish(3) // not enough
	n.Publish(7)
	if got := <-done; got != 7 {
		t.Errorf("Wait = %d, want 7", got)
	}
	// Another process appends: the backoff's refresh finds it.
	store.Store(9)
	id, err := n.Wait(t.Context(), 8, refresh, Doubling(time.Millisecond, 5*time.Millisecond))
	if err != nil || id != 9 {
		t.Errorf("Wait = %d, %v; want 9", id, err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Millisecond)
	defer cancel()
	if _, err := n.Wait(ctx, 100, refresh, Fixed(time.Millisecond)); err == nil {
		t.Error("Wait past the end returned without error")
	}
}

func TestDoubling(t *testing.T) {
	b := Doubling(2*time.Millisecond, 50*time.Millisecond)
	want := []time.Duration{2, 4, 8, 16, 32, 50, 50}
	for i, w := range want {
		if got := b(i); got != w*time.Millisecond {
			t.Errorf("Doubling(%d) = %v, want %v", i, got, w*time.Millisecond)
		}
	}
}
