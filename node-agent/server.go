package nodeagent

import (
	"context"
	"errors"
	"fmt"
	stdlog "log"
	"net"
	"net/http"
	"os"
	"os/user"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whycache/whycache/pkg/agentapi"
)

// healthShutdownGrace bounds how long a health or metrics request may take
// once the agent is told to stop.
const healthShutdownGrace = 2 * time.Second

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
	if err := setSocketAccess(sock, a.cfg.SocketMode, a.cfg.SocketGroup); err != nil {
		u.Close()
		return err
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
// until ctx ends. Its clients are bounded (connections, time to send a
// request, bytes in flight) so that none can starve the health server, the
// main loop or the node.
func (l *listeners) serveWrites(ctx context.Context, a *Agent) error {
	srv := &http.Server{
		Handler:           a.guard(a.writeHandler()),
		ConnContext:       connContext,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadTimeout,
		WriteTimeout:      a.cfg.ReadTimeout + a.cfg.WriteTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          httpErrorLog(a.log.WithName("write-api")),
	}
	lns := []net.Listener{l.unix}
	if l.tcp != nil {
		lns = append(lns, l.tcp)
	}
	return serve(ctx, srv, a.cfg.ShutdownGrace, a.log, limitListeners(a.cfg.MaxWriteConns, lns...)...)
}

// maxHeaderBytes bounds a write request's headers: they carry a content
// type and, over TCP, a token.
const maxHeaderBytes = 16 << 10

// serveHealth serves /healthz, /readyz and /metrics until ctx ends.
func (l *listeners) serveHealth(ctx context.Context, a *Agent) error {
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+agentapi.PathHealthz, a.probe(a.liveness))
	mux.HandleFunc("GET "+agentapi.PathReadyz, a.probe(a.readiness))
	mux.Handle("GET "+agentapi.PathMetrics, a.metricsHandler())
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: a.cfg.ReadHeaderTimeout,
		ReadTimeout:       a.cfg.ReadHeaderTimeout,
		IdleTimeout:       a.cfg.IdleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		ErrorLog:          httpErrorLog(a.log.WithName("health")),
	}
	return serve(ctx, srv, healthShutdownGrace, a.log, l.health)
}

// serve runs srv on the listeners until ctx ends, then shuts it down
// gracefully: requests in progress get grace to finish, then their
// connections are closed (a client that trickles its request must not hold
// the agent's exit).
func serve(ctx context.Context, srv *http.Server, grace time.Duration, log logr.Logger, lns ...net.Listener) error {
	errc := make(chan error, len(lns))
	for _, ln := range lns {
		go func() { errc <- srv.Serve(ln) }()
	}
	select {
	case err := <-errc:
		return fmt.Errorf("serve %s: %w", lns[0].Addr(), err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), grace)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Info("closing connections whose requests did not finish in time", "addr", lns[0].Addr().String(), "grace", grace)
		if err := srv.Close(); err != nil {
			return fmt.Errorf("close %s: %w", lns[0].Addr(), err)
		}
	}
	return nil
}

// httpErrorLog passes net/http's own messages (failed accepts, TLS and
// protocol errors) to the structured logger.
func httpErrorLog(log logr.Logger) *stdlog.Logger {
	return stdlog.New(logWriter{log}, "", 0)
}

type logWriter struct{ log logr.Logger }

func (w logWriter) Write(p []byte) (int, error) {
	w.log.Info("http server", "message", strings.TrimSpace(string(p)))
	return len(p), nil
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

// setSocketAccess gives the write socket its group and mode. By default
// pods run as any user, so anyone who can reach the directory may write.
func setSocketAccess(sock string, mode os.FileMode, group string) error {
	if group != "" {
		gid, err := lookupGroup(group)
		if err != nil {
			return err
		}
		if err := os.Lchown(sock, -1, gid); err != nil {
			return fmt.Errorf("give write socket to group %s: %w", group, err)
		}
	}
	if err := os.Chmod(sock, mode.Perm()); err != nil {
		return fmt.Errorf("chmod write socket: %w", err)
	}
	return nil
}

// lookupGroup returns the id of a group given by name or id.
func lookupGroup(group string) (int, error) {
	if gid, err := strconv.Atoi(group); err == nil {
		return gid, nil
	}
	g, err := user.LookupGroup(group)
	if err != nil {
		return 0, fmt.Errorf("socket group: %w", err)
	}
	return strconv.Atoi(g.Gid)
}
