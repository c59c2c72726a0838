package relaystore

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// maxAnswer bounds an answer's body: a page holds at most about
// logstore.MinPageBytes, or one update (64 MiB under the default limits).
const maxAnswer = 1 << 30

// maxErrorAnswer bounds the body of a failed answer that is read.
const maxErrorAnswer = 1 << 20

// request is one call to a relay.
type request struct {
	method string
	call   string
	query  url.Values
	body   []byte
	ctype  string
	// retry says that the call may be sent again to another relay after a
	// connection failed mid-call: it changes nothing, or the same thing
	// twice. An append may not.
	retry bool
}

// newHTTPClient returns the client for a target: HTTP/2 (over TLS, or
// cleartext h2c), pings that find a dead connection within seconds.
func newHTTPClient(t Target) (*http.Client, error) {
	tr := &http.Transport{
		DialContext:         (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 2,
		IdleConnTimeout:     5 * time.Minute,
		HTTP2: &http.HTTP2Config{
			SendPingTimeout: 15 * time.Second,
			PingTimeout:     10 * time.Second,
		},
		Protocols: new(http.Protocols),
	}
	if t.TLS {
		cfg := &tls.Config{MinVersion: tls.VersionTLS12}
		if t.CAFile != "" {
			pem, err := os.ReadFile(t.CAFile)
			if err != nil {
				return nil, fmt.Errorf("read %s: %w", paramCAFile, err)
			}
			cfg.RootCAs = x509.NewCertPool()
			if !cfg.RootCAs.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("%s %s holds no PEM certificate: %w", paramCAFile, t.CAFile, logstore.ErrInvalid)
			}
		}
		tr.TLSClientConfig = cfg
		tr.Protocols.SetHTTP2(true)
		tr.Protocols.SetHTTP1(true)
	} else {
		// Only unencrypted HTTP/2: the transport then speaks h2c with prior
		// knowledge, so that an agent's wait and reads share one
		// connection.
		tr.Protocols.SetUnencryptedHTTP2(true)
	}
	return &http.Client{Transport: tr}, nil
}

// readToken reads the bearer token from its file.
func readToken(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", fmt.Errorf("read %s: %w", paramTokenFile, err)
	}
	tok := strings.TrimSpace(string(b))
	if tok == "" || strings.ContainsAny(tok, "\r\n") {
		return "", fmt.Errorf("%s %s: want one line holding the token: %w", paramTokenFile, path, logstore.ErrInvalid)
	}
	return tok, nil
}

// do sends a call to the relay in use, moving to the next one when it
// cannot be reached (see each), and returns the answer's body.
func (s *Store) do(ctx context.Context, req request) ([]byte, error) {
	if s.closed.Load() {
		return nil, fmt.Errorf("%s: %w", req.call, logstore.ErrClosed)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(s.life, cancel)
	defer stop()
	var body []byte
	err := s.each(ctx, req, func(ctx context.Context, addr string, req request) error {
		var err error
		body, err = s.send(ctx, addr, req)
		return err
	})
	return body, err
}

// each makes a call with call, to the relay in use, then to the next ones
// while a relay cannot be reached, and stays with the relay that answers.
// An append is moved only when it cannot have reached the relay (a failed
// dial, or a relay that refused it as unavailable).
func (s *Store) each(ctx context.Context, req request, call func(ctx context.Context, addr string, req request) error) error {
	n := len(s.target.Addrs)
	start := int(s.cur.Load())
	var errs []error
	for i := range n {
		idx := (start + i) % n
		addr := s.target.Addrs[idx]
		err := call(ctx, addr, req)
		switch {
		case err == nil:
			return nil
		case s.closed.Load():
			return fmt.Errorf("%s: %w", req.call, logstore.ErrClosed)
		case ctx.Err() != nil:
			return fmt.Errorf("%s via relay %s: %w", req.call, addr, ctx.Err())
		case errors.Is(err, errUnreachable) && !req.retry && !notSent(err):
			return fmt.Errorf("%s via relay %s: the connection was lost; the update is whole in the log or absent: %w", req.call, addr, err)
		case !errors.Is(err, errUnreachable) && !errors.Is(err, relaywire.ErrUnavailable):
			return err
		}
		errs = append(errs, err)
		s.cur.CompareAndSwap(int32(idx), int32((idx+1)%n))
	}
	return fmt.Errorf("%s: no relay could take the call: %w: %w", req.call, relaywire.ErrUnavailable, errors.Join(errs...))
}

// errUnreachable marks a failure to talk to a relay at all.
var errUnreachable = errors.New("relay unreachable")

// notSent tells whether a transport error happened before the request
// could reach the relay.
func notSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// send makes one call to one relay and returns the answer's body.
func (s *Store) send(ctx context.Context, addr string, req request) ([]byte, error) {
	resp, err := s.openCall(ctx, addr, req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return nil, fmt.Errorf("%s via relay %s: read the answer: %w: %w", req.call, addr, errUnreachable, err)
	}
	if len(b) > maxAnswer {
		return nil, fmt.Errorf("%s via relay %s: answer over %d bytes: %w", req.call, addr, maxAnswer, relaywire.ErrMalformed)
	}
	return b, nil
}

// openCall sends one call to one relay and returns its answer, whose body the
// caller reads and closes, once the relay has said that it succeeded and
// that it is about this handle's log.
func (s *Store) openCall(ctx context.Context, addr string, req request) (*http.Response, error) {
	u := url.URL{Scheme: "http", Host: addr, Path: relaywire.Path(s.opts.Name, req.call), RawQuery: req.query.Encode()}
	if s.target.TLS {
		u.Scheme = "https"
	}
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	hr, err := http.NewRequestWithContext(ctx, req.method, u.String(), body)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", req.call, err)
	}
	if req.ctype != "" {
		hr.Header.Set("Content-Type", req.ctype)
	}
	if s.token != "" {
		hr.Header.Set("Authorization", "Bearer "+s.token)
	}
	resp, err := s.hc.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("%s via relay %s: %w: %w", req.call, addr, errUnreachable, err)
	}
	if resp.StatusCode/100 != 2 {
		defer resp.Body.Close()
		b, err := io.ReadAll(io.LimitReader(resp.Body, maxErrorAnswer))
		if err != nil {
			return nil, fmt.Errorf("%s via relay %s: read the answer: %w: %w", req.call, addr, errUnreachable, err)
		}
		return nil, answerError(req.call, addr, resp.StatusCode, b)
	}
	if err := s.checkLog(addr, resp.Header.Get(relaywire.HeaderLogID)); err != nil {
		resp.Body.Close()
		return nil, err
	}
	return resp, nil
}

// answerError turns a failed answer into its error.
func answerError(call, addr string, status int, b []byte) error {
	var e relaywire.Error
	if json.Unmarshal(b, &e) != nil || e.Code == "" {
		return fmt.Errorf("%s via relay %s: %w", call, addr, relaywire.Unexpected(status, b))
	}
	return fmt.Errorf("%s via relay %s: %w", call, addr, e.ToError())
}

// checkLog makes sure that an answer is about this handle's log: a relay
// in front of another store (a mistake in a list of relays) must not feed
// it.
func (s *Store) checkLog(addr, header string) error {
	if s.id.IsZero() {
		return nil // the open call itself
	}
	if header != s.id.String() {
		return fmt.Errorf("relay %s serves log %q with identity %q, not %s: %w", addr, s.opts.Name, header, s.id, logstore.ErrIdentityMismatch)
	}
	return nil
}
