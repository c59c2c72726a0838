package nodeagent_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	nodeagent "github.com/whycache/whycache/node-agent"
	"github.com/whycache/whycache/pkg/agentapi"
	"github.com/whycache/whycache/pkg/logstore"
)

// appendGate holds every Append until the gate opens, counting those that
// wait.
type appendGate struct {
	logstore.Store
	gate    chan struct{}
	waiting atomic.Int64
}

func (s *appendGate) Append(ctx context.Context, ops []logstore.Op) (uint64, error) {
	s.waiting.Add(1)
	defer s.waiting.Add(-1)
	select {
	case <-s.gate:
	case <-ctx.Done():
		return 0, ctx.Err()
	}
	return s.Store.Append(ctx, ops)
}

// poll calls cond until it holds, and fails the test after 30 seconds.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func liveHeap() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// TestInFlightBytesBounded holds many big write requests at once (their
// appends wait) and checks that the bytes the agent holds stay under the
// configured bound: the in-flight metric and the live heap.
func TestInFlightBytesBounded(t *testing.T) {
	const (
		valueSize = 1 << 20
		requests  = 16
		bound     = 3 << 20
	)
	cfg := dirConfig(t, t.TempDir(), "node")
	cfg.Limits = logstore.Limits{MaxValueSize: valueSize, MaxUpdateSize: valueSize + 64}
	cfg.MaxInFlightBytes = bound
	store := &appendGate{gate: make(chan struct{})}
	open := cfg.OpenStore
	cfg.OpenStore = func(ctx context.Context, opts logstore.Options) (logstore.Store, error) {
		s, err := open(ctx, opts)
		store.Store = s
		return store, err
	}
	a := start(t, cfg)
	body, err := json.Marshal(agentapi.UpdateRequest{Ops: []agentapi.Op{
		{Op: agentapi.OpSet, Key: []byte("k"), Value: bytes.Repeat([]byte{'v'}, valueSize)},
	}})
	if err != nil {
		t.Fatal(err)
	}
	before := liveHeap()
	hc := unixClient(a.SocketPath())
	var wg sync.WaitGroup
	codes := make([]int, requests)
	for i := range requests {
		wg.Go(func() {
			resp, err := hc.Post("http://agent"+agentapi.PathUpdates, "application/json", bytes.NewReader(body))
			if err != nil {
				t.Errorf("POST: %v", err)
				return
			}
			codes[i] = resp.StatusCode
			resp.Body.Close()
		})
	}
	poll(t, "every request to wait for room or for its append", func() bool {
		w, _ := strconv.Atoi(a.metric(t, "whycache_agent_write_waiting_requests"))
		return int64(w)+store.waiting.Load() == requests
	})
	held := liveHeap() - min(before, liveHeap())
	peak, _ := strconv.ParseFloat(a.metric(t, "whycache_agent_write_inflight_bytes_max"), 64)
	close(store.gate)
	wg.Wait()
	for i, c := range codes {
		if c != http.StatusOK {
			t.Errorf("request %d: status %d", i, c)
		}
	}
	t.Logf("%d requests of %d bytes: peak in flight %.0f bytes (bound %d); live heap held %d bytes",
		requests, len(body), peak, bound, held)
	if peak > bound {
		t.Errorf("peak bytes in flight %.0f, over the bound %d", peak, bound)
	}
	if held > 3*bound {
		t.Errorf("the agent held %d bytes of heap for its requests, over 3 × the bound %d", held, bound)
	}
}

// trickle opens a connection to the write socket, sends the headers of a
// request that promises a body, and then one byte of it at a time; it
// returns when the agent closes the connection.
func trickle(socket string, stop <-chan struct{}) error {
	c, err := net.Dial("unix", socket)
	if err != nil {
		return err
	}
	defer c.Close()
	hdr := "POST " + agentapi.PathUpdates + " HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
	if _, err := io.WriteString(c, hdr); err != nil {
		return nil // closed already
	}
	closed := make(chan struct{})
	go func() {
		_, _ = io.Copy(io.Discard, c) // ends when the agent closes
		close(closed)
	}()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-closed:
			return nil
		case <-stop:
			return fmt.Errorf("connection still open")
		case <-tick.C:
			_, _ = c.Write([]byte{'{'})
		}
	}
}

// TestTrickleClientsTimeOut keeps many slow clients on the write socket,
// more than the connection bound: the health server keeps answering, the
// agent closes every slow connection, and a normal write then succeeds.
func TestTrickleClientsTimeOut(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "node")
	cfg.ReadHeaderTimeout = 100 * time.Millisecond
	cfg.ReadTimeout = 300 * time.Millisecond
	cfg.MaxWriteConns = 4
	a := start(t, cfg)
	const clients = 12
	stop := make(chan struct{})
	errs := make(chan error, clients)
	for range clients {
		go func() { errs <- trickle(a.SocketPath(), stop) }()
	}
	timer := time.AfterFunc(30*time.Second, func() { close(stop) })
	defer timer.Stop()
	for i := range clients {
		if code, body := a.get(t, "/healthz"); code != http.StatusOK {
			t.Fatalf("/healthz: %d %s", code, body)
		}
		if err := <-errs; err != nil {
			t.Fatalf("slow client %d: %v", i, err)
		}
	}
	if _, er := a.update(t, agentapi.UpdateRequest{Ops: []agentapi.Op{{Op: agentapi.OpSet, Key: []byte("k")}}}); er != nil {
		t.Fatalf("write after the slow clients: %+v", er)
	}
}

// TestShutdownWithSlowClient stops the agent while a client is in the
// middle of sending its request: Run returns nil without waiting for the
// client (whose read timeout is an hour).
func TestShutdownWithSlowClient(t *testing.T) {
	cfg := dirConfig(t, t.TempDir(), "node")
	cfg.ReadTimeout = time.Hour
	cfg.ShutdownGrace = 50 * time.Millisecond
	a, err := nodeagent.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- a.Run(ctx) }()
	<-a.Started()
	c, err := net.Dial("unix", a.SocketPath())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := io.WriteString(c, "POST "+agentapi.PathUpdates+" HTTP/1.1\r\nHost: agent\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{\"ops\":"); err != nil {
		t.Fatal(err)
	}
	metrics := func() string {
		resp, err := http.Get("http://" + a.HealthAddr() + "/metrics")
		if err != nil {
			return ""
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	poll(t, "the request to be read", func() bool {
		return bytes.Contains([]byte(metrics()), []byte("whycache_agent_write_inflight_bytes 7\n"))
	})
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v, want nil", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("Run did not return")
	}
}
