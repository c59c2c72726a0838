package relay

import (
	"crypto/tls"
	"net/http"
	"time"
)

// HTTP server limits.
const (
	readHeaderTimeout = 10 * time.Second
	idleTimeout       = 5 * time.Minute
	maxHeaderBytes    = 64 << 10
	// maxStreams bounds the calls in flight on one HTTP/2 connection: an
	// agent holds one wait and a few reads at once.
	maxStreams = 100
)

// NewHTTPServer returns an HTTP server for h on addr with the relay's limits:
// HTTP/2 (over TLS when tlsConfig is set, else cleartext h2c) and HTTP/1.1,
// bounded header size and time, pings that find dead HTTP/2 connections. It
// has no overall read or write timeout, because a wait is held for up to
// Config.MaxWait and a page may be large; each call bounds itself.
func NewHTTPServer(addr string, h http.Handler, tlsConfig *tls.Config) *http.Server {
	p := new(http.Protocols)
	p.SetHTTP1(true)
	if tlsConfig != nil {
		p.SetHTTP2(true)
	} else {
		p.SetUnencryptedHTTP2(true)
	}
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		TLSConfig:         tlsConfig,
		Protocols:         p,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		HTTP2: &http.HTTP2Config{
			MaxConcurrentStreams: maxStreams,
			SendPingTimeout:      30 * time.Second,
			PingTimeout:          15 * time.Second,
		},
	}
}
