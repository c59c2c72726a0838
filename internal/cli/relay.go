package cli

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/whycache/whycache/internal/version"
	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/backends"
	"github.com/whycache/whycache/pkg/relay"
)

// minTokenBytes is the shortest bearer token the relay accepts.
const minTokenBytes = 16

// relayFlags are the relay's own flags; --store and --log-name are the
// global ones.
type relayFlags struct {
	listen        string
	tokenFile     string
	tlsCert       string
	tlsKey        string
	cfg           relay.Config
	shutdownGrace time.Duration
	logFormat     string
	logLevel      int
}

func newRelayCommand(g *globals) *cobra.Command {
	f := &relayFlags{}
	cmd := &cobra.Command{
		Use:   "relay",
		Short: "Serve the log to many node agents from one connection to the store (relay://host:port)",
		Long: `The relay follows the log in --store once and serves it to node agents
that use the store URL relay://host:port[,host2:port...]: a stream to each
agent that brings the new updates as the log grows (paced by
--max-frame-rate, from the newest updates it holds in memory), reads
(through a page cache shared by all agents), waits (long polls, for agents
that do not stream), heartbeats (written in batches), and writes (forwarded
to the store unchanged). The database then sees a few relays, not every
node.

It serves HTTP/2 on --listen (cleartext h2c, or TLS with --tls-cert-file and
--tls-key-file) and /healthz, /readyz and /metrics (Prometheus) on the same
port. With --token-file, every call but those three must carry the token
(Authorization: Bearer).
It stops gracefully on SIGTERM: waits in progress are ended so that agents
move to another relay at once.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return f.run(cmd.Context(), g) },
	}
	fs := cmd.Flags()
	fs.StringVar(&f.listen, "listen", ":7480", "address to serve on")
	fs.StringVar(&f.tokenFile, "token-file", "", "file holding the bearer token that every call must carry (at least 16 bytes; a mounted Secret)")
	fs.StringVar(&f.tlsCert, "tls-cert-file", "", "serve TLS with this certificate (PEM; reloaded when it changes)")
	fs.StringVar(&f.tlsKey, "tls-key-file", "", "the TLS certificate's private key (PEM)")
	fs.Int64Var(&f.cfg.CacheBytes, "cache-bytes", relay.DefaultCacheBytes, "memory for recently read pages, in bytes")
	fs.IntVar(&f.cfg.MaxWaiters, "max-waiters", relay.DefaultMaxWaiters, "waits (long polls) held at once; more are refused and their agents try another relay")
	fs.DurationVar(&f.cfg.MaxWait, "max-wait", relay.DefaultMaxWait, "longest a wait is held before it answers that nothing is new")
	fs.DurationVar(&f.cfg.HeartbeatLinger, "heartbeat-linger", relay.DefaultHeartbeatLinger, "how long heartbeats are gathered before they are written together")
	fs.IntVar(&f.cfg.MaxLogs, "max-logs", relay.DefaultMaxLogs, "logs of the store the relay serves at most (--log-name is opened at start; others when an agent asks)")
	fs.IntVar(&f.cfg.MaxStoreReads, "max-store-reads", relay.DefaultMaxStoreReads, "page reads of a log in flight on the store at once (bounds the database connections they take)")
	fs.IntVar(&f.cfg.MaxFrameRate, "max-frame-rate", relay.DefaultMaxFrameRate, "frames per second the agents' streams get in all: under many writes each stream's frames are spaced by streams/rate, each carrying what came meanwhile")
	fs.Int64Var(&f.cfg.MaxInFlightBytes, "max-in-flight-bytes", relay.DefaultMaxInFlightBytes, "append bodies held in memory at once, in bytes (more wait)")
	fs.DurationVar(&f.shutdownGrace, "shutdown-grace", 10*time.Second, "on SIGTERM, time calls in progress get to finish")
	fs.StringVar(&f.logFormat, "log-format", "json", "log format: json or console")
	fs.IntVarP(&f.logLevel, "verbosity", "v", 0, "log verbosity (0: info; higher: more detail)")
	return cmd
}

func (f *relayFlags) run(ctx context.Context, g *globals) error {
	log, err := newLogger(f.logFormat, f.logLevel)
	if err != nil {
		return err
	}
	if g.store == "" {
		return errors.New("--store (or $WHYCACHE_STORE) is required")
	}
	if _, err := backends.Parse(g.store); err != nil {
		return err
	}
	cfg := f.cfg
	cfg.Logger = log.WithName("relay")
	cfg.Logs = []string{g.logName}
	if cfg.Token, err = readRelayToken(f.tokenFile); err != nil {
		return err
	}
	tlsConfig, err := f.tlsConfig()
	if err != nil {
		return err
	}
	url := g.store
	cfg.Open = func(ctx context.Context, name string, create bool) (logstore.Store, error) {
		return backends.Open(ctx, url, relayStoreOptions(name, create, log.WithName("store")))
	}
	srv, err := relay.New(cfg)
	if err != nil {
		return err
	}
	defer srv.Close()
	hs := relay.NewHTTPServer(f.listen, srv.Handler(), tlsConfig)
	l, err := net.Listen("tcp", f.listen)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", f.listen, err)
	}
	log.Info("starting relay", "version", version.Get(), "listen", l.Addr().String(), "store", backends.Redact(url),
		"logName", g.logName, "tls", tlsConfig != nil, "token", len(cfg.Token) > 0)
	served := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			served <- hs.ServeTLS(l, "", "")
		} else {
			served <- hs.Serve(l)
		}
	}()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}
	log.Info("stopping relay: ending waits, then finishing calls in progress", "grace", f.shutdownGrace)
	srv.Drain()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), f.shutdownGrace)
	defer cancel()
	if err := hs.Shutdown(sctx); err != nil {
		_ = hs.Close()
	}
	if err := <-served; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	return srv.Close()
}

// relayStoreOptions are the options of a log the relay opens: it keeps a
// few connections open (see relay.StoreMinConns).
func relayStoreOptions(name string, create bool, log logr.Logger) logstore.Options {
	return logstore.Options{Name: name, Create: create, Logger: log, MinConns: relay.StoreMinConns}
}

// readRelayToken reads --token-file.
func readRelayToken(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read --token-file: %w", err)
	}
	tok := strings.TrimSpace(string(b))
	if len(tok) < minTokenBytes || strings.ContainsAny(tok, "\r\n") {
		return nil, fmt.Errorf("--token-file %s: want one line of at least %d bytes", path, minTokenBytes)
	}
	return []byte(tok), nil
}

// tlsConfig returns the TLS configuration of --tls-cert-file and
// --tls-key-file, or nil without them.
func (f *relayFlags) tlsConfig() (*tls.Config, error) {
	if (f.tlsCert == "") != (f.tlsKey == "") {
		return nil, errors.New("--tls-cert-file and --tls-key-file go together")
	}
	if f.tlsCert == "" {
		return nil, nil
	}
	r := &certReloader{certFile: f.tlsCert, keyFile: f.tlsKey}
	if err := r.load(); err != nil {
		return nil, err
	}
	return &tls.Config{MinVersion: tls.VersionTLS12, GetCertificate: r.get, NextProtos: []string{"h2", "http/1.1"}}, nil
}

// certReloader serves a certificate from files that a Secret mount (or
// cert-manager) replaces: it loads them again when their modification time
// changes, looking at most every certCheckInterval.
type certReloader struct {
	certFile, keyFile string

	mu      sync.Mutex
	cert    *tls.Certificate
	mtime   time.Time
	checked time.Time
}

const certCheckInterval = 10 * time.Second

func (r *certReloader) load() error {
	st, err := os.Stat(r.certFile)
	if err != nil {
		return fmt.Errorf("--tls-cert-file: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(r.certFile, r.keyFile)
	if err != nil {
		return fmt.Errorf("load --tls-cert-file and --tls-key-file: %w", err)
	}
	r.cert, r.mtime, r.checked = &cert, st.ModTime(), time.Now()
	return nil
}

func (r *certReloader) get(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if time.Since(r.checked) >= certCheckInterval {
		r.checked = time.Now()
		if st, err := os.Stat(r.certFile); err == nil && !st.ModTime().Equal(r.mtime) {
			// A half-written pair fails to load: keep the old one and try
			// again at the next check.
			_ = r.load()
		}
	}
	return r.cert, nil
}
