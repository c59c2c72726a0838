package relay

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/whycache/whycache/pkg/logstore"
	"github.com/whycache/whycache/pkg/logstore/relaywire"
)

// maxJSONBody bounds the JSON bodies of calls (heartbeat, rewrite).
const maxJSONBody = 64 << 10

// Handler returns the relay's HTTP handler: the calls of package relaywire
// under /v1/logs/, and /healthz, /readyz and /metrics.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok\n") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if err := s.Ready(); err != nil {
			http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok\n")
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.Handle(relaywire.PathPrefix, s.metrics.instrument(http.HandlerFunc(s.serveCall)))
	return mux
}

// call is one request about a log.
type call struct {
	w    http.ResponseWriter
	r    *http.Request
	q    url.Values
	name string
}

// handlers maps each call to its method and handler.
var handlers = map[string]struct {
	method string
	fn     func(s *Server, f *feed, c *call) error
}{
	relaywire.CallRead:      {http.MethodGet, (*Server).serveRead},
	relaywire.CallReplay:    {http.MethodGet, (*Server).serveRead},
	relaywire.CallLatest:    {http.MethodGet, (*Server).serveLatest},
	relaywire.CallHorizon:   {http.MethodGet, (*Server).serveHorizon},
	relaywire.CallWait:      {http.MethodGet, (*Server).serveWait},
	relaywire.CallStream:    {http.MethodGet, (*Server).serveStream},
	relaywire.CallAppend:    {http.MethodPost, (*Server).serveAppend},
	relaywire.CallRewrite:   {http.MethodPost, (*Server).serveRewrite},
	relaywire.CallHeartbeat: {http.MethodPost, (*Server).serveHeartbeat},
	relaywire.CallNodes:     {http.MethodGet, (*Server).serveNodes},
}

// serveCall authenticates a call, finds its log and runs its handler.
func (s *Server) serveCall(w http.ResponseWriter, r *http.Request) {
	err := s.dispatch(w, r)
	if err == nil {
		return
	}
	if r.Context().Err() != nil {
		// The client gave up (an agent ends its wait to check its file):
		// no one to answer, nothing to log.
		return
	}
	e, status := relaywire.FromError(err)
	s.metrics.callFailed(e.Code)
	if status == http.StatusInternalServerError {
		s.log.Error(err, "call failed", "path", r.URL.Path)
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="whycache-relay"`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(e)
}

func (s *Server) dispatch(w http.ResponseWriter, r *http.Request) error {
	if !s.authorized(r) {
		return fmt.Errorf("%s %s: %w", r.Method, r.URL.Path, relaywire.ErrUnauthorized)
	}
	if s.draining() {
		return fmt.Errorf("relay is shutting down: %w", relaywire.ErrUnavailable)
	}
	name, callName, ok := relaywire.SplitPath(r.URL.Path)
	if !ok {
		return fmt.Errorf("path %q: want %s{log}/{call}: %w", r.URL.Path, relaywire.PathPrefix, logstore.ErrInvalid)
	}
	q, err := url.ParseQuery(r.URL.RawQuery)
	if err != nil {
		return fmt.Errorf("query of %s: %w: %w", r.URL.Path, logstore.ErrInvalid, err)
	}
	c := &call{w: w, r: r, q: q, name: name}
	if callName == relaywire.CallOpen {
		if r.Method != http.MethodPost {
			return methodError(r, http.MethodPost)
		}
		return s.serveOpen(c)
	}
	h, ok := handlers[callName]
	if !ok {
		return fmt.Errorf("unknown call %q: %w", callName, logstore.ErrInvalid)
	}
	if r.Method != h.method {
		return methodError(r, h.method)
	}
	f, err := s.feed(r.Context(), name, false)
	if err != nil {
		return err
	}
	w.Header().Set(relaywire.HeaderLogID, f.id.String())
	return h.fn(s, f, c)
}

func methodError(r *http.Request, want string) error {
	return fmt.Errorf("%s %s: want %s: %w", r.Method, r.URL.Path, want, logstore.ErrInvalid)
}

// authorized checks the bearer token, in constant time.
func (s *Server) authorized(r *http.Request) bool {
	if len(s.cfg.Token) == 0 {
		return true
	}
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		return false
	}
	// Hashing both makes the comparison's time independent of the
	// lengths too.
	a, b := sha256.Sum256([]byte(got)), sha256.Sum256(s.cfg.Token)
	return subtle.ConstantTimeCompare(a[:], b[:]) == 1
}

func (s *Server) serveOpen(c *call) error {
	create, err := boolParam(c.q, relaywire.ParamCreate)
	if err != nil {
		return err
	}
	f, err := s.feed(c.r.Context(), c.name, create)
	if err != nil {
		return err
	}
	c.w.Header().Set(relaywire.HeaderLogID, f.id.String())
	return writeJSON(c.w, relaywire.Open{ID: f.id.String()})
}

func (s *Server) serveRead(f *feed, c *call) error {
	replay := strings.HasSuffix(c.r.URL.Path, "/"+relaywire.CallReplay)
	key := pageKey{replay: replay}
	var known uint64
	var err error
	if key.after, err = uintParam(c.q, relaywire.ParamAfter, true); err != nil {
		return err
	}
	if known, err = uintParam(c.q, relaywire.ParamKnown, false); err != nil {
		return err
	}
	if key.maxOps, err = maxOpsParam(c.q); err != nil {
		return err
	}
	if replay {
		if key.horizon, err = uintParam(c.q, relaywire.ParamHorizon, true); err != nil {
			return err
		}
	}
	body, err := f.read(c.r.Context(), key, known)
	if err != nil {
		return err
	}
	c.w.Header().Set("Content-Type", relaywire.ContentTypeBinary)
	c.w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = c.w.Write(body)
	return nil
}

func (s *Server) serveLatest(f *feed, c *call) error {
	id, err := f.readLatest(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, relaywire.Number{N: id})
}

func (s *Server) serveHorizon(f *feed, c *call) error {
	h, err := f.readHorizon(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, relaywire.Number{N: h})
}

func (s *Server) serveWait(f *feed, c *call) error {
	after, err := uintParam(c.q, relaywire.ParamAfter, true)
	if err != nil {
		return err
	}
	d := s.cfg.MaxWait
	if ms, err := uintParam(c.q, relaywire.ParamTimeout, false); err != nil {
		return err
	} else if ms > 0 {
		d = min(d, time.Duration(min(ms, 1<<40))*time.Millisecond)
	}
	if n := s.waiters.Add(1); n > int64(s.cfg.MaxWaiters) {
		s.waiters.Add(-1)
		s.metrics.waitRefused()
		return fmt.Errorf("the relay holds %d waits, its limit: %w", s.cfg.MaxWaiters, relaywire.ErrUnavailable)
	}
	latest, err := f.wait(c.r.Context(), after, d, s.drain)
	s.waiters.Add(-1)
	s.metrics.waitAnswered(c.r.Context(), after, latest, err)
	if err != nil {
		return err
	}
	return writeJSON(c.w, relaywire.Number{N: latest})
}

func (s *Server) serveAppend(f *feed, c *call) error {
	lim := f.store.Limits()
	maxBody := int64(lim.MaxUpdateSize) + int64(lim.MaxUpdateOps)*(1+2*binary.MaxVarintLen64) + 16
	n := c.r.ContentLength
	if n > maxBody {
		return fmt.Errorf("append body of %d bytes is over the %d bytes an update may take: %w", n, maxBody, logstore.ErrTooLarge)
	}
	if n < 0 {
		n = maxBody
	}
	// The body must arrive within the store timeout: a client that
	// trickles it must not hold its share of memory for long.
	_ = http.NewResponseController(c.w).SetReadDeadline(time.Now().Add(s.cfg.StoreTimeout))
	weight := min(n, s.cfg.MaxInFlightBytes)
	if err := s.inFlight.Acquire(c.r.Context(), weight); err != nil {
		return err
	}
	defer s.inFlight.Release(weight)
	body, err := io.ReadAll(http.MaxBytesReader(c.w, c.r.Body, maxBody))
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return fmt.Errorf("append body is over the %d bytes an update may take: %w", maxBody, logstore.ErrTooLarge)
		}
		return fmt.Errorf("read append body: %w", err)
	}
	ops, err := relaywire.DecodeOps(body)
	if err != nil {
		return fmt.Errorf("append: %w: %w", logstore.ErrInvalid, err)
	}
	id, err := f.store.Append(c.r.Context(), ops)
	if err != nil {
		return err
	}
	// The store makes ids visible in order, so once this one is durable
	// every id below it is readable: waiters may go.
	f.advance(id)
	return writeJSON(c.w, relaywire.Number{N: id})
}

func (s *Server) serveRewrite(f *feed, c *call) error {
	var req relaywire.Rewrite
	if err := readJSON(c, &req); err != nil {
		return err
	}
	stats, err := f.store.Rewrite(c.r.Context(), logstore.RewriteOptions{Through: req.Through, DeleteLimit: req.DeleteLimit, BatchSize: req.BatchSize})
	// Whatever the outcome, the kept pages may hold removed operations.
	f.cache.clear()
	if err != nil {
		return err
	}
	f.noteHorizon(stats.Horizon)
	return writeJSON(c.w, relaywire.StatsOf(stats))
}

func (s *Server) serveHeartbeat(f *feed, c *call) error {
	var req relaywire.Heartbeat
	if err := readJSON(c, &req); err != nil {
		return err
	}
	if req.Node == "" {
		return fmt.Errorf("heartbeat with no node name: %w", logstore.ErrInvalid)
	}
	if err := f.hb.submit(c.r.Context(), logstore.NodeProgress{Node: req.Node, AppliedID: req.AppliedID}); err != nil {
		return err
	}
	return writeJSON(c.w, relaywire.Number{})
}

func (s *Server) serveNodes(f *feed, c *call) error {
	nodes, err := f.store.Nodes(c.r.Context())
	if err != nil {
		return err
	}
	return writeJSON(c.w, relaywire.NodesOf(nodes))
}

// uintParam reads an unsigned query parameter; a missing optional one is 0.
func uintParam(q url.Values, name string, required bool) (uint64, error) {
	vs, ok := q[name]
	if !ok {
		if required {
			return 0, fmt.Errorf("missing parameter %q: %w", name, logstore.ErrInvalid)
		}
		return 0, nil
	}
	if len(vs) != 1 {
		return 0, fmt.Errorf("parameter %q given %d times: %w", name, len(vs), logstore.ErrInvalid)
	}
	v, err := strconv.ParseUint(vs[0], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("parameter %s=%q: want an unsigned integer: %w", name, vs[0], logstore.ErrInvalid)
	}
	return v, nil
}

// maxOpsParam reads the optional page size of a read or a stream.
func maxOpsParam(q url.Values) (int, error) {
	maxOps, err := uintParam(q, relaywire.ParamMax, false)
	if err != nil {
		return 0, err
	}
	if maxOps > logstore.DefaultMaxUpdateOps {
		return 0, fmt.Errorf("%s=%d: at most %d: %w", relaywire.ParamMax, maxOps, logstore.DefaultMaxUpdateOps, logstore.ErrInvalid)
	}
	return int(maxOps), nil
}

// boolParam reads an optional boolean query parameter.
func boolParam(q url.Values, name string) (bool, error) {
	v := q.Get(name)
	if v == "" {
		return false, nil
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("parameter %s=%q: want true or false: %w", name, v, logstore.ErrInvalid)
	}
	return b, nil
}

// readJSON decodes a call's JSON body, strictly.
func readJSON(c *call, v any) error {
	_ = http.NewResponseController(c.w).SetReadDeadline(time.Now().Add(readHeaderTimeout))
	dec := json.NewDecoder(http.MaxBytesReader(c.w, c.r.Body, maxJSONBody))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("body of %s: %w: %w", c.r.URL.Path, logstore.ErrInvalid, err)
	}
	if dec.More() {
		return fmt.Errorf("body of %s: more than one JSON value: %w", c.r.URL.Path, logstore.ErrInvalid)
	}
	return nil
}

// writeJSON writes a call's answer. A failure to write means the client has
// gone: there is no one to tell.
func writeJSON(w http.ResponseWriter, v any) error {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
	return nil
}
