package nodeagent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whycache/whycache/pkg/agentapi"
)

// shutdownGrace bounds how long in-flight requests may take once the agent
// is told to stop.
const shutdownGrace = 10 * time.Second

// listeners are the agent's open listening sockets.
type listeners struct {
	unix, tcp, health net.Listener
}

// listen opens the health listener at once (so that probes answer while the
// agent starts); the write sockets are opened by listenWrites, once the agent
// holds the cache file's lock and may replace a stale socket.
func (a *Agent) listen() (*listeners, error) {
	l := &listeners{}
	if a.cfg.HealthAddr != "" {
		h, err := net.Listen("tcp", a.cfg.HealthAddr)
		if err != nil {
			return nil, fmt.Errorf("listen for health and metrics on %s: %w", a.cfg.HealthAddr, err)
		}
		l.health = h
		a.healthAddr.Store(h.Addr().String())
	}
	return l, nil
}

// HealthAddr returns the address /healthz, /readyz and /metrics are served
// on, once Run has started (useful when Config.HealthAddr asked for port 0).
func (a *Agent) HealthAddr() string { return a.healthAddr.Load().(string) }

// TCPWriteAddr returns the address the write API is served on over TCP, once
// the agent has started, or "" when it is served on the Unix socket only.
func (a *Agent) TCPWriteAddr() string { return a.tcpAddr.Load().(string) }

// listenWrites opens the write API's Unix socket (replacing a stale one: the
// caller holds the cache file's lock, so no other agent serves this
// directory) and, when configured, its TCP listener.
func (l *listeners) listenWrites(a *Agent) error {
	sock := a.SocketPath()
	if err := os.Remove(sock); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("remove stale write socket: %w", err)
	}
	u, err := net.Listen("unix", sock)
	if err != nil {
		return fmt.Errorf("listen on write socket: %w", err)
	}
	// Pods run as any user: anyone who can reach the directory may write.
	if err := os.Chmod(sock, 0o666); err != nil {
		u.Close()
		return fmt.Errorf("chmod write socket: %w", err)
	}
	l.unix = u
	if a.cfg.TCPWriteAddr != "" {
		t, err := net.Listen("tcp", a.cfg.TCPWriteAddr)
		if err != nil {
			u.Close()
			return fmt.Errorf("listen for writes on %s: %w", a.cfg.TCPWriteAddr, err)
		}
		l.tcp = t
		a.tcpAddr.Store(t.Addr().String())
	}
	return nil
}

// serveWrites serves the write API on the listeners opened by listenWrites
// until ctx ends.
func (l *listeners) serveWrites(ctx context.Context, a *Agent) error {
	srv := &http.Server{Handler: a.writeHandler(), ReadHeaderTimeout: 10 * time.Second}
	lns := []net.Listener{l.unix}
	if l.tcp != nil {
		lns = append(lns, l.tcp)
	}
	return serve(ctx, srv, lns...)
}

// serveHealth serves /healthz, /readyz and /metrics until ctx ends.
func (l *listeners) serveHealth(ctx context.Context, a *Agent) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentapi.PathHealthz, a.probe(a.liveness))
	mux.HandleFunc("GET "+agentapi.PathReadyz, a.probe(a.readiness))
	mux.Handle("GET "+agentapi.PathMetrics, a.metricsHandler())
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	return serve(ctx, srv, l.health)
}

// serve runs srv on the listeners until ctx ends, then shuts it down
// gracefully.
func serve(ctx context.Context, srv *http.Server, lns ...net.Listener) error {
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", lns[0].Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shut down %s: %w", lns[0].Addr(), err)
	}
	return nil
}

// probe turns a check into an HTTP handler: 200 "ok", or 503 and the reason.
func (a *Agent) probe(check func(time.Time) error) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if err := check(time.Now()); err != nil {
			w.WriteHeader(http.StatusServiceUnavailable)
			fmt.Fprintln(w, err)
			return
		}
		fmt.Fprintln(w, "ok")
	}
}

// metricsHandler refreshes the gauges that are computed on demand and
// serves the registry.
func (a *Agent) metricsHandler() http.Handler {
	h := promhttp.HandlerFor(a.metrics.registry, promhttp.HandlerOpts{})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		now := time.Now()
		_, d := a.lag(now)
		a.metrics.lagSeconds.Set(d.Seconds())
		ready := 0.0
		if a.readiness(now) == nil {
			ready = 1
		}
		a.metrics.ready.Set(ready)
		h.ServeHTTP(w, r)
	})
}
